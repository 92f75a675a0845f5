"""The Task aggregate: one per task, its events and guards (rules and errors: task_rules)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.task_rules import (
    TaskAlreadyCompletedError,
    TaskArchivedError,
    TaskNotCompletedError,
    TaskNotFoundError,
    TaskRules,
    TombstoneExpiredError,
    TombstoneNotFoundError,
    VersionConflictError,
)


class Task(Aggregate):
    """A user's task. Its state is the replay of its events, which is what makes restore exact."""

    completed_by_values: ClassVar[tuple[str, ...]] = ("manual", "auto", "force")

    class Created(Aggregate.Created):
        owner_id: UUID
        title: str
        description: str | None
        priority: str
        due_date: datetime | None
        estimated_duration: int | None
        template_id: UUID | None

    class Updated(Aggregate.Event):
        changes: dict[str, Any]

    class Completed(Aggregate.Event):
        completed_at: datetime
        completed_by: str

    class Reopened(Aggregate.Event):
        pass

    class Hidden(Aggregate.Event):
        pass

    class Unhidden(Aggregate.Event):
        pass

    class Archived(Aggregate.Event):
        pass

    class Unarchived(Aggregate.Event):
        pass

    class Deleted(Aggregate.Event):
        # Owner and title ride along: the recovery list shows them without other lookups.
        owner_id: UUID
        title: str
        deleted_at: datetime
        recoverable_until: datetime

    class Restored(Aggregate.Event):
        pass

    @classmethod
    def create(
        cls,
        *,
        owner_id: UUID,
        rules: TaskRules,
        title: str,
        description: str | None = None,
        priority: str = "medium",
        due_date: datetime | None = None,
        estimated_duration: int | None = None,
        template_id: UUID | None = None,
    ) -> Task:
        fields: dict[str, Any] = {
            "title": title,
            "description": description,
            "priority": priority,
            "due_date": due_date,
            "estimated_duration": estimated_duration,
        }
        for name, value in fields.items():
            rules.check(name, value)
        return cls(
            owner_id=owner_id,
            title=title,
            description=description,
            priority=priority,
            due_date=due_date,
            estimated_duration=estimated_duration,
            template_id=template_id,
        )

    @event(Created)
    def __init__(
        self,
        owner_id: UUID,
        title: str,
        description: str | None,
        priority: str,
        due_date: datetime | None,
        estimated_duration: int | None,
        template_id: UUID | None,
    ) -> None:
        self.owner_id = owner_id
        self.title = title
        self.description = description
        self.priority = priority
        self.due_date = due_date
        self.estimated_duration = estimated_duration
        self.template_id = template_id
        self.focus_time_seconds = 0
        self.completed = False
        self.completed_at: datetime | None = None
        self.completed_by: str | None = None
        self.hidden = False
        self.archived = False
        self.deleted = False
        self.deleted_at: datetime | None = None
        self.recoverable_until: datetime | None = None

    def state(self) -> dict[str, Any]:
        """The task as its users see it: every public field, by name."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "priority": self.priority,
            "due_date": self.due_date,
            "estimated_duration": self.estimated_duration,
            "focus_time_seconds": self.focus_time_seconds,
            "completed": self.completed,
            "completed_at": self.completed_at,
            "completed_by": self.completed_by,
            "hidden": self.hidden,
            "archived": self.archived,
            "template_id": self.template_id,
            "version": self.version,
            "created_at": self.created_on,
            "updated_at": self.modified_on,
        }

    @property
    def is_active(self) -> bool:
        """Counts against the active-task limit."""
        return not (self.completed or self.archived or self.deleted)

    def update(self, changes: dict[str, Any], *, expected_version: int, rules: TaskRules) -> bool:
        """Apply a PATCH; returns False when nothing actually changed (no event)."""
        if expected_version != self.version:
            raise VersionConflictError(
                "the task has changed since you read it", current_version=self.version
            )
        self._check_writable()
        for name, value in changes.items():
            rules.check(name, value)
        effective = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not effective:
            return False
        self._updated(changes=effective)
        return True

    @event(Updated)
    def _updated(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    def complete(self, *, at: datetime) -> None:
        self._check_writable()
        if self.completed:
            raise TaskAlreadyCompletedError("the task is already completed")
        self._completed(completed_at=at, completed_by="manual")

    @event(Completed)
    def _completed(self, completed_at: datetime, completed_by: str) -> None:
        self.completed = True
        self.completed_at = completed_at
        self.completed_by = completed_by

    def reopen(self) -> None:
        self._check_writable()
        if not self.completed:
            raise TaskNotCompletedError("the task is not completed")
        self._reopened()

    @event(Reopened)
    def _reopened(self) -> None:
        self.completed = False
        self.completed_at = None
        self.completed_by = None

    def hide(self) -> bool:
        """Leave the default list; False (no event) if already hidden."""
        self._check_writable()
        if self.hidden:
            return False
        self._hidden()
        return True

    @event(Hidden)
    def _hidden(self) -> None:
        self.hidden = True

    def unhide(self) -> bool:
        self._check_writable()
        if not self.hidden:
            return False
        self._unhidden()
        return True

    @event(Unhidden)
    def _unhidden(self) -> None:
        self.hidden = False

    def archive(self) -> bool:
        """Make the task read-only and leave the default list; False if already archived."""
        self._check_exists()
        if self.archived:
            return False
        self._archived()
        return True

    @event(Archived)
    def _archived(self) -> None:
        self.archived = True

    def unarchive(self) -> bool:
        self._check_exists()
        if not self.archived:
            return False
        self._unarchived()
        return True

    @event(Unarchived)
    def _unarchived(self) -> None:
        self.archived = False

    def delete(self, *, at: datetime, recoverable_for: timedelta) -> None:
        """Delete, recoverably: restoring within `recoverable_for` brings it all back."""
        self._check_exists()
        self._deleted(
            owner_id=self.owner_id,
            title=self.title,
            deleted_at=at,
            recoverable_until=at + recoverable_for,
        )

    @event(Deleted)
    def _deleted(
        self, owner_id: UUID, title: str, deleted_at: datetime, recoverable_until: datetime
    ) -> None:
        self.deleted = True
        self.deleted_at = deleted_at
        self.recoverable_until = recoverable_until

    def restore(self, *, now: datetime) -> None:
        if not self.deleted or self.recoverable_until is None:
            raise TombstoneNotFoundError("this task is not deleted")
        if now > self.recoverable_until:
            raise TombstoneExpiredError(
                "the task can no longer be restored",
                recoverable_until=self.recoverable_until.isoformat(),
            )
        self._restored()

    @event(Restored)
    def _restored(self) -> None:
        self.deleted = False
        self.deleted_at = None
        self.recoverable_until = None

    def _check_exists(self) -> None:
        if self.deleted:
            raise TaskNotFoundError("task not found")

    def _check_writable(self) -> None:
        self._check_exists()
        if self.archived:
            raise TaskArchivedError("the task is archived and read-only")
