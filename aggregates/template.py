"""The TaskTemplate aggregate: a recurring task, and what became of each of its occurrences.

When it recurs is a `Schedule` the template is handed (the RRULE arithmetic lives outside the
domain, in infra/recurrence.py); what the template decides is which occurrence is due now,
and it records the outcome of each one once: an instance created, or the occurrence skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError
from aggregates.ids import PERPETUA_NAMESPACE
from aggregates.task_rules import SubtaskLimitExceededError, TaskRules, VersionConflictError

# A start further from today than this is refused: it is a typo more often than a plan, and
# every occurrence is counted from the start.
START_WINDOW = timedelta(days=366)
TASK_FIELDS = ("title", "description", "priority", "estimated_duration")
SCHEDULE_FIELDS = frozenset({"rrule", "timezone", "starts_at"})
EDITABLE_FIELDS = frozenset({*TASK_FIELDS, *SCHEDULE_FIELDS, "subtasks"})


# What became of a due occurrence: a task, or a skip the template records.
RunOutcome = Literal["created", "skipped"]


class TemplateNotFoundError(DomainError):
    code = "TEMPLATE_NOT_FOUND"


class InvalidTemplateError(DomainError):
    code = "VALIDATION_ERROR"


class Schedule(Protocol):
    """When a template recurs; all instants in and out are timezone-aware."""

    def next_after(self, instant: datetime) -> datetime | None:
        """The first occurrence strictly after `instant`; None once the rule has ended."""

    def between(self, after: datetime, until: datetime) -> list[datetime]:
        """Every occurrence strictly after `after` and not after `until`, in order."""


def instance_id(template_id: UUID, occurrence_at: datetime) -> UUID:
    """The task id of a template's instance for one occurrence: a second attempt to create
    it collides with the first in the store, whoever makes it."""
    moment = occurrence_at.astimezone(UTC).isoformat()
    return uuid5(PERPETUA_NAMESPACE, f"template-instance:{template_id}:{moment}")


class TaskTemplate(Aggregate):
    class Created(Aggregate.Created):
        owner_id: UUID
        title: str
        description: str | None
        priority: str
        estimated_duration: int | None
        rrule: str
        timezone: str
        starts_at: datetime  # wall time in `timezone` (naive): the rule's DTSTART
        subtasks: list[str]
        next_occurrence_at: datetime | None

    class Updated(Aggregate.Event):
        changes: dict[str, Any]
        next_occurrence_at: datetime | None

    class Paused(Aggregate.Event):
        pass

    class Resumed(Aggregate.Event):
        next_occurrence_at: datetime | None

    class Deleted(Aggregate.Event):
        pass

    class InstanceCreated(Aggregate.Event):
        occurrence_at: datetime
        task_id: UUID
        missed: int  # earlier occurrences that fell due unseen (the scheduler was down)
        next_occurrence_at: datetime | None

    class OccurrenceSkipped(Aggregate.Event):
        occurrence_at: datetime
        reason: str  # the error code that refused the instance, e.g. TASK_LIMIT_EXCEEDED
        missed: int
        next_occurrence_at: datetime | None

    @classmethod
    def create(
        cls,
        *,
        owner_id: UUID,
        rules: TaskRules,
        fields: dict[str, Any],
        schedule: Schedule,
    ) -> TaskTemplate:
        """`fields`: every name of EDITABLE_FIELDS. The schedule must have an occurrence ahead."""
        _check(fields, rules)
        return cls(
            owner_id=owner_id,
            **fields,
            next_occurrence_at=_next_occurrence(schedule, rules.now),
        )

    @event(Created)
    def __init__(
        self,
        owner_id: UUID,
        title: str,
        description: str | None,
        priority: str,
        estimated_duration: int | None,
        rrule: str,
        timezone: str,
        starts_at: datetime,
        subtasks: list[str],
        next_occurrence_at: datetime | None,
    ) -> None:
        self.owner_id = owner_id
        self.title = title
        self.description = description
        self.priority = priority
        self.estimated_duration = estimated_duration
        self.rrule = rrule
        self.timezone = timezone
        self.starts_at = starts_at
        self.subtasks = list(subtasks)
        self.next_occurrence_at = next_occurrence_at
        self.paused = False
        self.deleted = False
        self.instances_created = 0
        self.occurrences_skipped = 0
        self.last_occurrence_at: datetime | None = None

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(EDITABLE_FIELDS)}

    def state(self) -> dict[str, Any]:
        """The template as its owner sees it."""
        return {
            **self.fields(),
            "id": self.id,
            "starts_at": self.starts_at.replace(tzinfo=ZoneInfo(self.timezone)),
            "paused": self.paused,
            "deleted": self.deleted,
            "next_occurrence_at": self.next_occurrence_at,
            "last_occurrence_at": self.last_occurrence_at,
            "instances_created": self.instances_created,
            "occurrences_skipped": self.occurrences_skipped,
            "version": self.version,
            "created_at": self.created_on,
            "updated_at": self.modified_on,
        }

    def update(
        self,
        changes: dict[str, Any],
        *,
        expected_version: int,
        rules: TaskRules,
        schedule: Schedule,
    ) -> bool:
        """Apply a PATCH (`schedule` is the one after it); False when nothing changed."""
        self._check_exists()
        if expected_version != self.version:
            raise VersionConflictError(
                "the template has changed since you read it", current_version=self.version
            )
        unknown = sorted(set(changes) - EDITABLE_FIELDS)
        if unknown:
            raise InvalidTemplateError(f"{unknown[0]} cannot be changed", field=unknown[0])
        _check({**self.fields(), **changes}, rules)
        effective = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not effective:
            return False
        next_at = self.next_occurrence_at
        if SCHEDULE_FIELDS & set(effective) and not self.paused:
            next_at = _next_occurrence(schedule, rules.now)
        self._updated(changes=effective, next_occurrence_at=next_at)
        return True

    @event(Updated)
    def _updated(self, changes: dict[str, Any], next_occurrence_at: datetime | None) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        self.next_occurrence_at = next_occurrence_at

    def pause(self) -> bool:
        """No instances until resumed; False (no event) if already paused."""
        self._check_exists()
        if self.paused:
            return False
        self._paused()
        return True

    @event(Paused)
    def _paused(self) -> None:
        self.paused = True
        self.next_occurrence_at = None

    def resume(self, *, schedule: Schedule, now: datetime) -> bool:
        """Recur again from the next occurrence after now: paused ones are not made up."""
        self._check_exists()
        if not self.paused:
            return False
        self._resumed(next_occurrence_at=schedule.next_after(now))
        return True

    @event(Resumed)
    def _resumed(self, next_occurrence_at: datetime | None) -> None:
        self.paused = False
        self.next_occurrence_at = next_occurrence_at

    def delete(self) -> None:
        """For good (its instances stay): no more occurrences."""
        self._check_exists()
        self._deleted()

    @event(Deleted)
    def _deleted(self) -> None:
        self.deleted = True
        self.next_occurrence_at = None

    # -- occurrences: each one is decided once ------------------------------------------------

    def due_occurrence(self, *, now: datetime, schedule: Schedule) -> tuple[datetime, int] | None:
        """The occurrence to act on now, and how many earlier ones were missed, if any is due.

        After downtime only the latest due occurrence gets an instance: a template that
        missed three days makes one task, not three, and its event says how many it missed.
        """
        if self.paused or self.deleted or self.next_occurrence_at is None:
            return None
        if self.next_occurrence_at > now:
            return None
        later = schedule.between(self.next_occurrence_at, now)
        return (later[-1], len(later)) if later else (self.next_occurrence_at, 0)

    def record_instance(
        self, occurrence_at: datetime, task_id: UUID, *, missed: int, schedule: Schedule
    ) -> None:
        self._instance_created(
            occurrence_at=occurrence_at,
            task_id=task_id,
            missed=missed,
            next_occurrence_at=schedule.next_after(occurrence_at),
        )

    @event(InstanceCreated)
    def _instance_created(
        self,
        occurrence_at: datetime,
        task_id: UUID,
        missed: int,
        next_occurrence_at: datetime | None,
    ) -> None:
        self.instances_created += 1
        self.last_occurrence_at = occurrence_at
        self.next_occurrence_at = next_occurrence_at

    def skip(
        self, occurrence_at: datetime, reason: str, *, missed: int, schedule: Schedule
    ) -> None:
        """Record that this occurrence gets no instance (e.g. the active-task limit)."""
        self._occurrence_skipped(
            occurrence_at=occurrence_at,
            reason=reason,
            missed=missed,
            next_occurrence_at=schedule.next_after(occurrence_at),
        )

    @event(OccurrenceSkipped)
    def _occurrence_skipped(
        self,
        occurrence_at: datetime,
        reason: str,
        missed: int,
        next_occurrence_at: datetime | None,
    ) -> None:
        self.occurrences_skipped += 1
        self.last_occurrence_at = occurrence_at
        self.next_occurrence_at = next_occurrence_at

    def _check_exists(self) -> None:
        if self.deleted:
            raise TemplateNotFoundError("template not found")


def _check(fields: dict[str, Any], rules: TaskRules) -> None:
    """What a task may hold (the same rules as a task's), and a start near today."""
    for name in TASK_FIELDS:
        rules.check(name, fields[name])
    subtasks = fields["subtasks"]
    for title in subtasks:
        rules.check_subtask_title(title)
    limit = rules.subtasks_per_task
    if limit is not None and len(subtasks) > limit:
        raise SubtaskLimitExceededError(f"a task may have at most {limit} subtasks", limit=limit)
    start = fields["starts_at"].replace(tzinfo=ZoneInfo(fields["timezone"]))
    if abs(start - rules.now) > START_WINDOW:
        raise InvalidTemplateError("starts_at must be within a year of today", field="starts_at")


def _next_occurrence(schedule: Schedule, now: datetime) -> datetime:
    next_at = schedule.next_after(now)
    if next_at is None:
        raise InvalidTemplateError("the rule has no occurrence ahead", field="rrule")
    return next_at
