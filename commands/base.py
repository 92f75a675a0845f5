"""What every command handler shares: saving, retrying on conflicts, loading what is yours."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import EnvType

from aggregates.achievements import BY_CODE, Achievements
from aggregates.credit_ledger import CreditLedger
from aggregates.errors import ConcurrentModificationError, DomainError
from aggregates.inbox import Inbox
from aggregates.subscription import Subscription
from aggregates.task import Task
from aggregates.template import TaskTemplate
from aggregates.user import User, UserNotFoundError
from commands.limits import Limits, TierLimits
from commands.store import StoreApplication
from infra.metrics import (
    CREDITS_SPENT,
    EVENTS_APPENDED,
    REMINDER_DELAY,
    REMINDERS_FIRED,
    TEMPLATE_INSTANCES_CREATED,
    TEMPLATE_OCCURRENCES_SKIPPED,
)

# Optimistic-concurrency retries for commands that span aggregates (e.g. the task limit,
# a user's credit ledger). The jittered pause lets a crowd of racers spread out instead of
# colliding again in lockstep: 30 concurrent spends on one ledger all get decided.
MAX_ATTEMPTS = 20
RETRY_PAUSE_SECONDS = 0.002
RETRY_PAUSE_CAP_SECONDS = 0.05

TAggregate = TypeVar("TAggregate", bound=Aggregate)
TSingleton = TypeVar("TSingleton", bound=Aggregate)
TResult = TypeVar("TResult")


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


class KeyedLocks:
    """A lock per key, alive only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[UUID, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: UUID | None) -> Iterator[None]:
        if key is None:
            yield
            return
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


@dataclass(frozen=True)
class Saved(Generic[TAggregate]):
    """An aggregate as the command left it, and the store position of its last new event."""

    aggregate: TAggregate
    position: int


class CommandHandlers(StoreApplication):
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
        self._user_locks = KeyedLocks()

    def notify(self, new_events: Sequence[DomainEventProtocol[UUID]]) -> None:
        for domain_event in new_events:
            EVENTS_APPENDED.labels(event_type=type(domain_event).__qualname__).inc()
            if isinstance(domain_event, CreditLedger.CreditsSpent):
                for kind, amount in domain_event.split.items():
                    CREDITS_SPENT.labels(kind=kind).inc(amount)
            elif isinstance(domain_event, Task.ReminderFired):
                REMINDERS_FIRED.labels(late=str(domain_event.late).lower()).inc()
                REMINDER_DELAY.observe(max(domain_event.delay_seconds, 0.0))
            elif isinstance(domain_event, TaskTemplate.InstanceCreated):
                TEMPLATE_INSTANCES_CREATED.inc()
            elif isinstance(domain_event, TaskTemplate.OccurrenceSkipped):
                TEMPLATE_OCCURRENCES_SKIPPED.labels(reason=domain_event.reason).inc()

    def _save(self, *aggregates: Aggregate) -> int:
        recordings: list[Recording[UUID]] = self.save(*aggregates)
        return recordings[-1].notification.id

    def _retry_on_conflict(
        self, attempt: Callable[[], TResult], *, user_id: UUID | None
    ) -> TResult:
        """Run `attempt` until it saves without losing a race, one at a time per user.

        A user's commands share per-user aggregates (the active-task count, the ledger), so
        in one process they queue for the user's lock instead of racing each other: only
        commands of the same user in other processes can still conflict, and those retry.
        """
        with self._user_locks.hold(user_id):
            return self._attempt_until_saved(attempt)

    def _attempt_until_saved(self, attempt: Callable[[], TResult]) -> TResult:
        for number in range(1, MAX_ATTEMPTS + 1):
            try:
                return attempt()
            except IntegrityError:
                # Another command saved one of these aggregates first: reload and decide again.
                if number == MAX_ATTEMPTS:
                    raise ConcurrentModificationError(
                        "too many concurrent changes; please retry"
                    ) from None
                pause = min(RETRY_PAUSE_SECONDS * 2**number, RETRY_PAUSE_CAP_SECONDS)
                time.sleep(random.uniform(0, pause))  # noqa: S311  # jitter, not a secret
        raise AssertionError("unreachable")

    def _singleton(self, kind: type[TSingleton], user_id: UUID) -> TSingleton:
        """The user's one aggregate of `kind`, started (not yet saved) if it has no events."""
        # Every per-user singleton has `create_id(user_id)` and `__init__(user_id)`.
        singleton: Any = kind
        try:
            return cast(TSingleton, self.repository.get(singleton.create_id(user_id)))
        except AggregateNotFoundError:
            return cast(TSingleton, singleton(user_id=user_id))

    def tier_of(self, user_id: UUID) -> str:
        """The user's tier now: pro until their subscription's period ends, else free."""
        return self._singleton(Subscription, user_id).tier_at(self.clock())

    def _effective_limits(self, user_id: UUID) -> TierLimits:
        """What applies to the user now, decided from their aggregates, never from a token:
        their tier's limits, raised by the perks of their achievements."""
        perks = self._singleton(Achievements, user_id).perks()
        return self.limits.for_tier(self.tier_of(user_id)).with_perk(perks)

    def _ledger_now(self, user_id: UUID) -> CreditLedger:
        """The user's ledger as of now: a new one gets the kickstart gift, and every one the
        day's daily credits (and expiries) recorded before anything else happens to it."""
        ledger = self._singleton(CreditLedger, user_id)
        ledger.grant_kickstart(self.limits.credits.kickstart)
        daily = self._effective_limits(user_id).daily_credits
        ledger.bring_up_to(self.clock(), daily_allowance=daily)
        return ledger

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

    def get_user(self, user_id: UUID) -> User:
        user = self._get_owned(
            user_id, User, owner_id=None, not_found=UserNotFoundError("user not found")
        )
        assert isinstance(user, User)
        return user

    def _announce_unlocked(self, user_id: UUID, codes: Sequence[str]) -> list[Aggregate]:
        """A notification per unlocked achievement: the inbox to save, if anything was posted."""
        if not codes:
            return []
        inbox = self._singleton(Inbox, user_id)
        for code in codes:
            definition = BY_CODE[code]
            inbox.post(
                kind="achievement_unlocked",
                key=code,
                title=f"Achievement unlocked: {definition.name}",
                body=definition.description,
            )
        return [inbox]

    def _head_position(self) -> int:
        """Position of the store's newest event: a no-op command still answers with one."""
        return self.recorder.max_notification_id() or 0
