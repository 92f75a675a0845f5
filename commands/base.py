"""What every command handler shares: saving, retrying on conflicts, loading what is yours."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import EnvType

from aggregates.errors import ConcurrentModificationError, DomainError
from commands.limits import Limits
from infra.metrics import EVENTS_APPENDED

# Optimistic-concurrency retries for commands that span aggregates (e.g. the task limit).
MAX_ATTEMPTS = 10

TAggregate = TypeVar("TAggregate", bound=Aggregate)
TResult = TypeVar("TResult")


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class Saved(Generic[TAggregate]):
    """An aggregate as the command left it, and the store position of its last new event."""

    aggregate: TAggregate
    position: int


class CommandHandlers(Application[UUID]):
    """The plumbing under the command handlers (identity, tasks, subtasks ...)."""

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        limits: Limits | None = None,
        clock: Callable[[], datetime] = utc_now,
        refresh_token_ttl: timedelta = timedelta(days=30),
    ) -> None:
        super().__init__(env)
        self.limits = limits or Limits()
        self.clock = clock
        self.refresh_token_ttl = refresh_token_ttl

    def notify(self, new_events: Sequence[DomainEventProtocol[UUID]]) -> None:
        for domain_event in new_events:
            EVENTS_APPENDED.labels(event_type=type(domain_event).__qualname__).inc()

    def _save(self, *aggregates: Aggregate) -> int:
        recordings: list[Recording[UUID]] = self.save(*aggregates)
        return recordings[-1].notification.id

    def _retry_on_conflict(self, attempt: Callable[[], TResult]) -> TResult:
        for number in range(1, MAX_ATTEMPTS + 1):
            try:
                return attempt()
            except IntegrityError:
                # Another command saved one of these aggregates first: reload and decide again.
                if number == MAX_ATTEMPTS:
                    raise ConcurrentModificationError(
                        "too many concurrent changes; please retry"
                    ) from None
        raise AssertionError("unreachable")

    def _get_owned(
        self,
        aggregate_id: UUID,
        kind: type[Aggregate],
        *,
        owner_id: UUID | None,
        not_found: DomainError,
    ) -> Aggregate:
        """Load an aggregate; someone else's, or one of another kind, is simply not found."""
        aggregate: Aggregate | None
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, kind) or (
            owner_id is not None and getattr(aggregate, "owner_id", None) != owner_id
        ):
            raise not_found from None
        return aggregate

    def _head_position(self) -> int:
        """Position of the store's newest event: a no-op command still answers with one."""
        return self.recorder.max_notification_id() or 0
