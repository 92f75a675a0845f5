"""Note commands: text notes on a task (voice notes arrive with transcription)."""

from __future__ import annotations

from uuid import UUID

from aggregates.task import Task
from commands.base import Saved
from commands.messages import AddNote, EditNote, RemoveNote
from commands.tasks import TaskCommands


class NoteCommands(TaskCommands):
    def add_note(self, command: AddNote) -> tuple[Saved[Task], UUID]:
        added: list[UUID] = []
        rules = self._rules_of(command.actor)

        def add(task: Task) -> None:
            added.append(task.add_note(command.content, rules=rules))

        saved = self._change_task(command, add)
        return saved, added[-1]

    def edit_note(self, command: EditNote) -> Saved[Task]:
        rules = self._rules_of(command.actor)
        return self._change_task(
            command, lambda task: task.edit_note(command.note_id, command.content, rules=rules)
        )

    def remove_note(self, command: RemoveNote) -> Saved[Task]:
        return self._change_task(command, lambda task: task.remove_note(command.note_id))
