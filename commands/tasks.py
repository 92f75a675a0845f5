"""Task commands, and the active-task count that moves with them."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from aggregates.achievements import Achievements
from aggregates.active_tasks import ActiveTasks
from aggregates.task import Task
from aggregates.task_rules import TaskNotFoundError, TaskRules, VersionConflictError
from commands.base import CommandHandlers, Saved
from commands.limits import TierLimits
from commands.messages import (
    Actor,
    ArchiveTask,
    CompleteTask,
    CreateTask,
    DeleteTask,
    HideTask,
    ReopenTask,
    RestoreTask,
    TaskCommand,
    UnarchiveTask,
    UnhideTask,
    UpdateTask,
)


class TaskCommands(CommandHandlers):
    def create_task(self, command: CreateTask) -> Saved[Task]:
        def attempt() -> Saved[Task]:
            limits = self._effective_limits(command.actor.user_id)
            task = Task.create(
                owner_id=command.actor.user_id,
                rules=self._task_rules(limits),
                title=command.title,
                description=command.description,
                priority=command.priority,
                due_date=command.due_date,
                estimated_duration=command.estimated_duration,
            )
            active = self._singleton(ActiveTasks, command.actor.user_id)
            active.activate(task.id, limit=limits.active_tasks)
            return Saved(task, self._save(task, active))

        return self._retry_on_conflict(attempt, user_id=command.actor.user_id)

    def update_task(self, command: UpdateTask) -> Saved[Task]:
        # No retry: the client named the version it edited, so a conflict is theirs to see.
        task = self._get_task(command.actor, command.task_id)
        changed = task.update(
            command.changes,
            expected_version=command.version,
            rules=self._rules_of(command.actor),
        )
        if not changed:
            return Saved(task, self._head_position())
        try:
            return Saved(task, self._save(task))
        except IntegrityError:
            # Someone saved this version between our read and our write.
            current = self._get_task(command.actor, command.task_id).version
            raise VersionConflictError(
                "the task has changed since you read it", current_version=current
            ) from None

    def complete_task(self, command: CompleteTask) -> Saved[Task]:
        return self._change_task(
            command, lambda task: task.complete(at=self.clock(), force=command.force)
        )

    def reopen_task(self, command: ReopenTask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.reopen())

    def hide_task(self, command: HideTask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.hide())

    def unhide_task(self, command: UnhideTask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.unhide())

    def archive_task(self, command: ArchiveTask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.archive())

    def unarchive_task(self, command: UnarchiveTask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.unarchive())

    def delete_task(self, command: DeleteTask) -> Saved[Task]:
        window = self.limits.tombstone_window
        return self._change_task(
            command, lambda task: task.delete(at=self.clock(), recoverable_for=window)
        )

    def restore_task(self, command: RestoreTask) -> Saved[Task]:
        """Bring a deleted task back, same id, same history; it counts as active again."""
        return self._change_task(
            command, lambda task: task.restore(now=self.clock()), deleted_ok=True
        )

    def _change_task(
        self,
        command: TaskCommand,
        change: Callable[[Task], bool | None],
        *,
        deleted_ok: bool = False,
    ) -> Saved[Task]:
        """Load, change (False: nothing to do), save with the active-task count if it moved."""

        def attempt() -> Saved[Task]:
            user_id = command.actor.user_id
            task = self._get_task(command.actor, command.task_id, deleted_ok=deleted_ok)
            was_active, was_completed = task.is_active, task.completed
            if change(task) is False:
                return Saved(task, self._head_position())
            changed: list[Aggregate] = [task]
            if task.is_active != was_active:
                active = self._singleton(ActiveTasks, user_id)
                if task.is_active:
                    limit = self._effective_limits(user_id).active_tasks
                    active.activate(task.id, limit=limit)
                else:
                    active.deactivate(task.id)
                changed.append(active)
            if task.completed != was_completed:
                changed.extend(self._count_completion(user_id, task))
            return Saved(task, self._save(*changed))

        return self._retry_on_conflict(attempt, user_id=command.actor.user_id)

    def _count_completion(self, user_id: UUID, task: Task) -> list[Aggregate]:
        """Move the achievement stats with a completion (or a reopening), in the same commit,
        and announce what it unlocks."""
        achievements = self._singleton(Achievements, user_id)
        if not task.completed:
            achievements.uncount_task_completion(task.id)
            return [achievements]
        assert task.completed_at is not None
        timezone = self.get_user(user_id).timezone
        unlocked = achievements.count_task_completion(
            task.id, at=task.completed_at, timezone=timezone
        )
        return [achievements, *self._announce_unlocked(user_id, unlocked)]

    def _get_task(self, actor: Actor, task_id: UUID, *, deleted_ok: bool = False) -> Task:
        not_found = TaskNotFoundError("task not found")
        task = self._get_owned(task_id, Task, owner_id=actor.user_id, not_found=not_found)
        assert isinstance(task, Task)
        if task.deleted and not deleted_ok:
            raise not_found
        return task

    def _rules_of(self, actor: Actor) -> TaskRules:
        """The rules for the actor's task; their limits are loaded if a guard asks for one."""
        return TaskRules(
            now=self.clock(),
            due_date_horizon=self.limits.due_date_horizon,
            limits_of_user=lambda: self._effective_limits(actor.user_id),
        )

    def _task_rules(self, limits: TierLimits) -> TaskRules:
        """The rules under limits already known."""
        return TaskRules(
            now=self.clock(),
            due_date_horizon=self.limits.due_date_horizon,
            limits_of_user=lambda: limits,
        )
