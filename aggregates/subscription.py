"""A user's subscription, and the billing events already processed.

The tier is never stored as a flag to flip back: it is derived from the period end whenever it
is asked for (`tier_at(now)`), so a cancelled subscription stays pro until its period ends and
becomes free by itself, with no sweep.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError
from aggregates.ids import PERPETUA_NAMESPACE, singleton_id

FREE, PRO = "free", "pro"


class BillingError(DomainError):
    code = "VALIDATION_ERROR"


class Subscription(Aggregate):
    class Started(Aggregate.Created):
        user_id: UUID

    class Activated(Aggregate.Event):
        period_end: datetime
        reference: str

    class Renewed(Aggregate.Event):
        period_end: datetime
        reference: str

    class Cancelled(Aggregate.Event):
        reference: str

    @staticmethod
    def create_id(user_id: UUID) -> UUID:
        return singleton_id("subscription", user_id)

    @event(Started)
    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        self.period_end: datetime | None = None
        self.cancelled = False

    def tier_at(self, now: datetime) -> str:
        return PRO if self.period_end is not None and now < self.period_end else FREE

    def status_at(self, now: datetime) -> str:
        """`none`, `active`, `cancelled` (still pro until the period ends) or `expired`."""
        if self.period_end is None:
            return "none"
        if now >= self.period_end:
            return "expired"
        return "cancelled" if self.cancelled else "active"

    def activate(self, period_end: datetime, *, reference: str) -> None:
        self._activated(period_end=period_end, reference=reference)

    @event(Activated)
    def _activated(self, period_end: datetime, reference: str) -> None:
        self.period_end = period_end
        self.cancelled = False

    def renew(self, period_end: datetime, *, reference: str) -> None:
        self._renewed(period_end=period_end, reference=reference)

    @event(Renewed)
    def _renewed(self, period_end: datetime, reference: str) -> None:
        self.period_end = period_end
        self.cancelled = False

    def cancel(self, *, reference: str) -> None:
        """Stop renewing: pro until the current period's end."""
        if self.period_end is None:
            raise BillingError("there is no subscription to cancel")
        self._cancelled(reference=reference)

    @event(Cancelled)
    def _cancelled(self, reference: str) -> None:
        self.cancelled = True

    def state_at(self, now: datetime) -> dict[str, Any]:
        return {
            "tier": self.tier_at(now),
            "status": self.status_at(now),
            "period_end": self.period_end,
            "cancel_at_period_end": self.cancelled,
        }


class BillingEvent(Aggregate):
    """A billing provider's event, recorded in the same commit as what it changed.

    Its id is derived from the provider's event id, so a replayed or concurrent duplicate
    collides with it in the store and changes nothing.
    """

    class Received(Aggregate.Created):
        event_id: str
        event_type: str
        user_id: UUID
        payload: dict[str, Any]

    @staticmethod
    def create_id(event_id: str) -> UUID:
        return uuid5(PERPETUA_NAMESPACE, f"billing-event:{event_id}")

    @event(Received)
    def __init__(
        self, event_id: str, event_type: str, user_id: UUID, payload: dict[str, Any]
    ) -> None:
        self.event_id = event_id
        self.event_type = event_type
        self.user_id = user_id
        self.payload = payload
