"""ActiveTasks: one per user, the count of their active tasks, which keeps the limit strict.

A task that becomes active (created, reopened) or stops being active (completed, ...) is saved
together with this aggregate in one transaction, so two concurrent creates conflict on its
version and one of them is retried against the new count. Because the task's own transition
is in the same commit, a count is enough: the same task can never be counted twice.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError
from aggregates.ids import singleton_id


class TaskLimitExceededError(DomainError):
    code = "TASK_LIMIT_EXCEEDED"


class ActiveTasks(Aggregate):
    class Started(Aggregate.Created):
        user_id: UUID

    class Activated(Aggregate.Event):
        task_id: UUID

    class Deactivated(Aggregate.Event):
        task_id: UUID

    @staticmethod
    def create_id(user_id: UUID) -> UUID:
        return singleton_id("active-tasks", user_id)

    @event(Started)
    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        self.count = 0
        # Which tasks, oldest first: what the assistant is told about (commands never read
        # the read model). Hex strings: a snapshot's JSON needs plain values.
        self.task_ids: list[str] = []

    def activate(self, task_id: UUID, *, limit: int | None) -> None:
        """Count `task_id` as active; `limit` None means unlimited."""
        if limit is not None and self.count >= limit:
            raise TaskLimitExceededError(
                f"you already have {self.count} active tasks (limit {limit})",
                limit=limit,
                active=self.count,
            )
        self._activated(task_id=task_id)

    @event(Activated)
    def _activated(self, task_id: UUID) -> None:
        self.count += 1
        if task_id.hex not in self.task_ids:
            self.task_ids.append(task_id.hex)

    def deactivate(self, task_id: UUID) -> None:
        self._deactivated(task_id=task_id)

    @event(Deactivated)
    def _deactivated(self, task_id: UUID) -> None:
        self.count = max(self.count - 1, 0)
        if task_id.hex in self.task_ids:
            self.task_ids.remove(task_id.hex)
