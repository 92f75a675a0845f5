"""Focus sessions: a timed stretch of work on one task, one at a time per user."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError
from aggregates.ids import singleton_id

# A completed session at least this long counts as a focus completion (achievements).
COMPLETION_MINUTES = 25
# A session left running (a closed laptop) counts for at most this long.
MAX_SESSION_SECONDS = 12 * 3600


class FocusAlreadyActiveError(DomainError):
    code = "FOCUS_ALREADY_ACTIVE"


class FocusNotActiveError(DomainError):
    code = "FOCUS_NOT_ACTIVE"


class FocusNotFoundError(DomainError):
    code = "NOT_FOUND"


class FocusSession(Aggregate):
    class Started(Aggregate.Created):
        user_id: UUID
        task_id: UUID
        planned_minutes: int
        started_at: datetime

    class Ended(Aggregate.Event):
        ended_at: datetime
        elapsed_seconds: int
        completed: bool
        counts_as_completion: bool

    @event(Started)
    def __init__(
        self, user_id: UUID, task_id: UUID, planned_minutes: int, started_at: datetime
    ) -> None:
        self.user_id = user_id
        self.task_id = task_id
        self.planned_minutes = planned_minutes
        self.started_at = started_at
        self.ended_at: datetime | None = None
        self.elapsed_seconds = 0
        self.completed = False
        self.counts_as_completion = False

    def end(self, *, at: datetime, completed: bool) -> int:
        """Stop the clock; returns the seconds to credit to the task."""
        if self.ended_at is not None:
            raise FocusNotActiveError("this focus session has already ended")
        elapsed = int(min(max((at - self.started_at).total_seconds(), 0), MAX_SESSION_SECONDS))
        self._ended(
            ended_at=at,
            elapsed_seconds=elapsed,
            completed=completed,
            counts_as_completion=completed and elapsed >= COMPLETION_MINUTES * 60,
        )
        return elapsed

    @event(Ended)
    def _ended(
        self, ended_at: datetime, elapsed_seconds: int, completed: bool, counts_as_completion: bool
    ) -> None:
        self.ended_at = ended_at
        self.elapsed_seconds = elapsed_seconds
        self.completed = completed
        self.counts_as_completion = counts_as_completion

    def state(self) -> dict[str, object]:
        return {
            "id": self.id,
            "task_id": self.task_id,
            "planned_minutes": self.planned_minutes,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "elapsed_seconds": self.elapsed_seconds,
            "completed": self.completed,
            "counts_as_completion": self.counts_as_completion,
        }


class FocusTracker(Aggregate):
    """One per user: which session is running, so that two can never run at once."""

    class Started(Aggregate.Created):
        user_id: UUID

    class SessionBegun(Aggregate.Event):
        session_id: UUID

    class SessionFinished(Aggregate.Event):
        session_id: UUID

    @staticmethod
    def create_id(user_id: UUID) -> UUID:
        return singleton_id("focus-tracker", user_id)

    @event(Started)
    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        self.active_session_id: UUID | None = None

    def begin(self, session_id: UUID) -> None:
        if self.active_session_id is not None:
            raise FocusAlreadyActiveError(
                "a focus session is already running; end it first",
                active_session_id=str(self.active_session_id),
            )
        self._session_begun(session_id=session_id)

    @event(SessionBegun)
    def _session_begun(self, session_id: UUID) -> None:
        self.active_session_id = session_id

    def finish(self, session_id: UUID) -> None:
        if self.active_session_id == session_id:
            self._session_finished(session_id=session_id)

    @event(SessionFinished)
    def _session_finished(self, session_id: UUID) -> None:
        self.active_session_id = None
