"""Subtask commands: each loads the task, changes it, and saves it (with the count)."""

from __future__ import annotations

from uuid import UUID

from aggregates.task import Task
from commands.base import Saved
from commands.messages import (
    AddSubtask,
    CompleteSubtask,
    RemoveSubtask,
    RenameSubtask,
    ReopenSubtask,
    ReorderSubtasks,
)
from commands.tasks import TaskCommands


class SubtaskCommands(TaskCommands):
    def add_subtask(self, command: AddSubtask) -> tuple[Saved[Task], UUID]:
        added: list[UUID] = []
        rules = self._rules_of(command.actor)

        def add(task: Task) -> None:
            added.append(task.add_subtask(command.title, rules=rules))

        saved = self._change_task(command, add)
        return saved, added[-1]

    def rename_subtask(self, command: RenameSubtask) -> Saved[Task]:
        rules = self._rules_of(command.actor)
        return self._change_task(
            command,
            lambda task: task.rename_subtask(command.subtask_id, command.title, rules=rules),
        )

    def complete_subtask(self, command: CompleteSubtask) -> Saved[Task]:
        return self._change_task(
            command, lambda task: task.complete_subtask(command.subtask_id, at=self.clock())
        )

    def reopen_subtask(self, command: ReopenSubtask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.reopen_subtask(command.subtask_id))

    def remove_subtask(self, command: RemoveSubtask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.remove_subtask(command.subtask_id))

    def reorder_subtasks(self, command: ReorderSubtasks) -> Saved[Task]:
        return self._change_task(
            command, lambda task: task.reorder_subtasks(list(command.subtask_ids))
        )
