"""What a task may hold, per tier: the guards' rules, and the task's domain errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

from aggregates.errors import DomainError

PRIORITIES = ("low", "medium", "high")
TITLE_MAX_LENGTH = 200
DURATION_RANGE_MINUTES = (1, 720)
NOTE_MAX_LENGTH = 2000
# An offset reminder fires this many minutes before the due date, at most the due-date horizon.
OFFSET_RANGE_MINUTES = (0, 30 * 24 * 60)
# A reminder that fires more than this after its time is marked late (SPEC: within 60 s).
REMINDER_ON_TIME_SECONDS = 60


class TaskError(DomainError):
    code = "TASK_ERROR"


class TaskNotFoundError(TaskError):
    code = "TASK_NOT_FOUND"


class InvalidTaskError(TaskError):
    code = "VALIDATION_ERROR"


class DescriptionTooLongError(TaskError):
    code = "DESCRIPTION_TOO_LONG"


class DueDateTooFarError(TaskError):
    code = "DUE_DATE_TOO_FAR"


class VersionConflictError(TaskError):
    code = "VERSION_CONFLICT"


class TaskArchivedError(TaskError):
    code = "TASK_ARCHIVED"


class TaskAlreadyCompletedError(TaskError):
    code = "TASK_ALREADY_COMPLETED"


class TaskNotCompletedError(TaskError):
    code = "TASK_NOT_COMPLETED"


class SubtaskNotFoundError(TaskError):
    code = "NOT_FOUND"


class InvalidSubtaskError(TaskError):
    code = "VALIDATION_ERROR"


class SubtaskLimitExceededError(TaskError):
    code = "SUBTASK_LIMIT_EXCEEDED"


class SubtasksIncompleteError(TaskError):
    code = "SUBTASKS_INCOMPLETE"


class NoteNotFoundError(TaskError):
    code = "NOT_FOUND"


class InvalidNoteError(TaskError):
    code = "VALIDATION_ERROR"


class NoteLimitExceededError(TaskError):
    code = "NOTE_LIMIT_EXCEEDED"


class ReminderNotFoundError(TaskError):
    code = "NOT_FOUND"


class InvalidReminderError(TaskError):
    code = "VALIDATION_ERROR"


class ReminderLimitExceededError(TaskError):
    code = "REMINDER_LIMIT_EXCEEDED"


class ReminderAlreadyFiredError(TaskError):
    code = "REMINDER_ALREADY_FIRED"


class TombstoneNotFoundError(TaskError):
    code = "NOT_FOUND"


class TombstoneExpiredError(TaskError):
    code = "TOMBSTONE_EXPIRED"


class TaskLimits(Protocol):
    """The user's limits that bear on one task (None: unlimited)."""

    @property
    def description_length(self) -> int: ...
    @property
    def subtasks_per_task(self) -> int | None: ...
    @property
    def notes_per_task(self) -> int | None: ...
    @property
    def reminders_per_task(self) -> int | None: ...


@dataclass(frozen=True)
class TaskRules:
    """What the guards need to know that the task itself does not: the user's limits, now."""

    now: datetime
    due_date_horizon: timedelta
    # Asked on first use only: the limits come from the user's subscription and achievements,
    # and most edits (a title, a priority, a due date) consult none of them.
    limits_of_user: Callable[[], TaskLimits]

    @cached_property
    def limits(self) -> TaskLimits:
        return self.limits_of_user()

    @property
    def description_max_length(self) -> int:
        return self.limits.description_length

    @property
    def subtasks_per_task(self) -> int | None:
        return self.limits.subtasks_per_task

    @property
    def notes_per_task(self) -> int | None:
        return self.limits.notes_per_task

    @property
    def reminders_per_task(self) -> int | None:
        return self.limits.reminders_per_task

    def reminder_time(
        self, remind_at: datetime | None, offset_minutes: int | None, due_date: datetime | None
    ) -> datetime:
        """When a reminder set this way fires: at `remind_at`, or `offset_minutes` before the
        due date. Exactly one of the two; the time must still be ahead."""
        if (remind_at is None) == (offset_minutes is None):
            raise InvalidReminderError("give either remind_at or offset_minutes", field="remind_at")
        if remind_at is not None:
            if remind_at.tzinfo is None:
                raise InvalidReminderError("remind_at must carry a UTC offset", field="remind_at")
            fires_at, field = remind_at, "remind_at"
        else:
            assert offset_minutes is not None
            low, high = OFFSET_RANGE_MINUTES
            if not low <= offset_minutes <= high:
                raise InvalidReminderError(
                    f"offset_minutes must be {low}-{high}", field="offset_minutes"
                )
            if due_date is None:
                raise InvalidReminderError(
                    "a reminder before the due date needs a due date", field="offset_minutes"
                )
            fires_at, field = due_date - timedelta(minutes=offset_minutes), "offset_minutes"
        if fires_at <= self.now:
            raise InvalidReminderError("the reminder's time has already passed", field=field)
        return fires_at.astimezone(UTC)

    def check_note_content(self, content: Any) -> None:
        if not isinstance(content, str) or not content.strip() or len(content) > NOTE_MAX_LENGTH:
            raise InvalidNoteError(
                f"a note must be 1-{NOTE_MAX_LENGTH} characters", field="content"
            )

    def check_subtask_title(self, title: Any) -> None:
        if not isinstance(title, str) or not title.strip() or len(title) > TITLE_MAX_LENGTH:
            raise InvalidSubtaskError(
                f"a subtask title must be 1-{TITLE_MAX_LENGTH} characters", field="title"
            )

    def check(self, field: str, value: Any) -> None:
        """Raise the domain error for a field value this user may not set."""
        if field == "title":
            if not isinstance(value, str) or not value.strip() or len(value) > TITLE_MAX_LENGTH:
                raise InvalidTaskError(
                    f"title must be 1-{TITLE_MAX_LENGTH} characters", field="title"
                )
        elif field == "description":
            if value is not None and len(value) > self.description_max_length:
                raise DescriptionTooLongError(
                    f"description is longer than {self.description_max_length} characters",
                    max_length=self.description_max_length,
                )
        elif field == "priority":
            if value not in PRIORITIES:
                raise InvalidTaskError(f"priority must be one of {PRIORITIES}", field="priority")
        elif field == "due_date":
            self._check_due_date(value)
        elif field == "estimated_duration":
            low, high = DURATION_RANGE_MINUTES
            if value is not None and not low <= value <= high:
                raise InvalidTaskError(
                    f"estimated_duration must be {low}-{high} minutes", field="estimated_duration"
                )
        else:
            raise InvalidTaskError(f"{field} cannot be changed this way", field=field)

    def _check_due_date(self, value: datetime | None) -> None:
        if value is None:
            return
        if value.tzinfo is None:
            raise InvalidTaskError("due_date must carry a UTC offset", field="due_date")
        latest = self.now + self.due_date_horizon
        if value > latest:
            raise DueDateTooFarError(
                f"due_date may be at most {self.due_date_horizon.days} days ahead",
                latest_allowed=latest.isoformat(),
            )
