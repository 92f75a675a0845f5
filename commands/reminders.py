"""Reminders: the user sets them on a task; the scheduler fires them, once."""

from __future__ import annotations

from datetime import UTC
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from aggregates.inbox import Inbox
from aggregates.task import FireOutcome, Task
from commands.base import Saved
from commands.messages import AddReminder, ChangeReminder, FireReminder, RemoveReminder
from commands.tasks import TaskCommands


class ReminderCommands(TaskCommands):
    def add_reminder(self, command: AddReminder) -> tuple[Saved[Task], UUID]:
        added: list[UUID] = []
        rules = self._rules_of(command.actor)

        def add(task: Task) -> None:
            added.append(
                task.add_reminder(
                    remind_at=command.remind_at,
                    offset_minutes=command.offset_minutes,
                    rules=rules,
                )
            )

        saved = self._change_task(command, add)
        return saved, added[-1]

    def change_reminder(self, command: ChangeReminder) -> Saved[Task]:
        rules = self._rules_of(command.actor)
        return self._change_task(
            command,
            lambda task: task.change_reminder(
                command.reminder_id,
                remind_at=command.remind_at,
                offset_minutes=command.offset_minutes,
                rules=rules,
            ),
        )

    def remove_reminder(self, command: RemoveReminder) -> Saved[Task]:
        return self._change_task(command, lambda task: task.remove_reminder(command.reminder_id))

    def fire_reminder(self, command: FireReminder) -> FireOutcome | None:
        """Fire a due reminder and notify its owner, in one commit; None: nothing to do.

        The task decides (the scheduler's list of due reminders may lag): a reminder fires
        only while pending. Two schedulers firing the same one race on the task's version;
        the loser reloads, finds it fired, and records nothing.
        """

        def attempt() -> FireOutcome | None:
            try:
                task: Aggregate = self.repository.get(command.task_id)
            except AggregateNotFoundError:
                return None
            if not isinstance(task, Task):
                return None
            outcome = task.fire_reminder(command.reminder_id, now=self.clock())
            if outcome is None:
                return None
            changed: list[Aggregate] = [task]
            if outcome == "fired":
                changed.append(self._notify_reminder(task, command.reminder_id))
            self._save(*changed)
            return outcome

        # The scheduler names the task, not its user: it races like another process.
        return self._retry_on_conflict(attempt, user_id=None)

    def _notify_reminder(self, task: Task, reminder_id: UUID) -> Inbox:
        reminder = task.reminders[reminder_id]
        body = f"Set for {reminder.fires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        inbox = self._singleton(Inbox, task.owner_id)
        inbox.post(
            kind="reminder",
            key=str(reminder_id),  # a reminder fires once, so it notifies once
            title=f"Reminder: {task.title}",
            body=f"{body} (sent late)" if reminder.late else body,
        )
        return inbox
