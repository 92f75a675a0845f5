"""The CreditLedger: one per user, every credit that ever came or went, as an event.

Four kinds of credit, spent in this order: daily (expire at UTC midnight), subscription (per
billing period, carried over at renewal up to a cap), purchased (never expire), kickstart
(granted once at sign-up). No job touches every user at midnight: `bring_up_to(now)` records
the expiry of yesterday's daily credits and today's grant the first time the ledger is used on
a new day, so the history always says why the balance is what it is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError
from aggregates.ids import singleton_id

SPEND_ORDER = ("daily", "subscription", "purchased", "kickstart")
# A spend is remembered this long (in spends) so its failure can be refunded exactly.
OPEN_SPENDS_KEPT = 200


class CreditError(DomainError):
    code = "CREDIT_ERROR"


class InsufficientCreditsError(CreditError):
    code = "INSUFFICIENT_CREDITS"


def utc_day(at: datetime) -> str:
    """The UTC calendar day of `at`, as an ISO date: the daily credits' lifetime."""
    return at.astimezone(UTC).date().isoformat()


class CreditLedger(Aggregate):
    class Opened(Aggregate.Created):
        user_id: UUID

    class KickstartGranted(Aggregate.Event):
        amount: int

    class DailyGranted(Aggregate.Event):
        day: str
        amount: int

    class DailyExpired(Aggregate.Event):
        day: str
        amount: int

    class SubscriptionCreditsGranted(Aggregate.Event):
        """A billing period began: unused credits carried over (capped), the rest expired."""

        amount: int
        carried_over: int
        expired: int
        period_end: datetime
        reference: str

    class SubscriptionCreditsExpired(Aggregate.Event):
        amount: int
        period_end: datetime

    class CreditsPurchased(Aggregate.Event):
        amount: int
        reference: str

    class CreditsSpent(Aggregate.Event):
        spend_id: UUID
        amount: int
        split: dict[str, int]
        reason: str

    class CreditsRefunded(Aggregate.Event):
        spend_id: UUID
        amount: int
        split: dict[str, int]
        reason: str

    @staticmethod
    def create_id(user_id: UUID) -> UUID:
        return singleton_id("credit-ledger", user_id)

    @event(Opened)
    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        self.balances: dict[str, int] = dict.fromkeys(SPEND_ORDER, 0)
        self.daily_day: str | None = None
        self.subscription_until: datetime | None = None
        self.kickstart_granted = False
        # spend id (hex) -> {"split": ..., "day": ...}, oldest first; see OPEN_SPENDS_KEPT.
        self.open_spends: dict[str, dict[str, Any]] = {}

    @property
    def total(self) -> int:
        return sum(self.balances.values())

    # -- grants and expiries ------------------------------------------------------------------

    def grant_kickstart(self, amount: int) -> None:
        """The sign-up gift, once in a ledger's life."""
        if not self.kickstart_granted and amount > 0:
            self._kickstart_granted(amount=amount)

    @event(KickstartGranted)
    def _kickstart_granted(self, amount: int) -> None:
        self.kickstart_granted = True
        self.balances["kickstart"] += amount

    def bring_up_to(self, now: datetime, *, daily_allowance: int) -> None:
        """Record what time alone changed since the ledger was last used.

        That is: expired subscription credits, yesterday's unused daily credits, today's grant.
        """
        if (
            self.balances["subscription"] > 0
            and self.subscription_until is not None
            and now >= self.subscription_until
        ):
            self._subscription_credits_expired(
                amount=self.balances["subscription"], period_end=self.subscription_until
            )
        today = utc_day(now)
        if self.daily_day == today:
            return
        if self.daily_day is not None and self.balances["daily"] > 0:
            self._daily_expired(day=self.daily_day, amount=self.balances["daily"])
        self._daily_granted(day=today, amount=daily_allowance)

    @event(DailyGranted)
    def _daily_granted(self, day: str, amount: int) -> None:
        self.daily_day = day
        self.balances["daily"] = amount

    @event(DailyExpired)
    def _daily_expired(self, day: str, amount: int) -> None:
        self.balances["daily"] -= amount

    @event(SubscriptionCreditsExpired)
    def _subscription_credits_expired(self, amount: int, period_end: datetime) -> None:
        self.balances["subscription"] -= amount

    def start_billing_period(
        self, *, amount: int, period_end: datetime, carry_over_cap: int, reference: str
    ) -> None:
        """A new (or renewed) subscription period: carry unused credits over up to the cap."""
        unused = self.balances["subscription"]
        carried = min(unused, carry_over_cap)
        self._subscription_credits_granted(
            amount=amount,
            carried_over=carried,
            expired=unused - carried,
            period_end=period_end,
            reference=reference,
        )

    @event(SubscriptionCreditsGranted)
    def _subscription_credits_granted(
        self, amount: int, carried_over: int, expired: int, period_end: datetime, reference: str
    ) -> None:
        self.balances["subscription"] = carried_over + amount
        self.subscription_until = period_end
        # What earlier spends took from the subscription belongs to a period that has ended.
        for spent in self.open_spends.values():
            spent["earlier_period"] = True

    def purchase(self, amount: int, *, reference: str) -> None:
        self._credits_purchased(amount=amount, reference=reference)

    @event(CreditsPurchased)
    def _credits_purchased(self, amount: int, reference: str) -> None:
        self.balances["purchased"] += amount

    # -- spends and refunds -------------------------------------------------------------------

    def spend(self, amount: int, *, spend_id: UUID, reason: str) -> dict[str, int]:
        """Take `amount` in spend order; returns how much came from each kind."""
        if amount <= 0:
            raise CreditError("a spend must be of at least one credit")
        if self.total < amount:
            raise InsufficientCreditsError(
                f"this needs {amount} credit(s); you have {self.total}",
                needed=amount,
                available=self.total,
            )
        split: dict[str, int] = {}
        remaining = amount
        for kind in SPEND_ORDER:
            taken = min(self.balances[kind], remaining)
            if taken:
                split[kind] = taken
                remaining -= taken
        self._credits_spent(spend_id=spend_id, amount=amount, split=split, reason=reason)
        return split

    @event(CreditsSpent)
    def _credits_spent(
        self, spend_id: UUID, amount: int, split: dict[str, int], reason: str
    ) -> None:
        for kind, taken in split.items():
            self.balances[kind] -= taken
        # The day and the billing period the credits were taken from: a refund after either
        # has ended gives them back expired.
        self.open_spends[spend_id.hex] = {
            "split": split,
            "day": self.daily_day,
            "period_end": self.subscription_until,
        }
        if len(self.open_spends) > OPEN_SPENDS_KEPT:
            del self.open_spends[next(iter(self.open_spends))]

    def refund(self, spend_id: UUID, *, reason: str, now: datetime) -> bool:
        """Give back exactly what a spend took; False (no event) if there is nothing to give back
        (refunded already, or too old to remember).

        Credits whose lifetime has ended since come back and expire at once, in the same commit:
        daily credits of an earlier day, subscription credits of a period that has ended or been
        renewed (unspent, they would have met the carry-over cap at the renewal). The user gets
        back what they would have had, never a bigger day or period.
        """
        spent = self.open_spends.get(spend_id.hex)
        if spent is None:
            return False
        split: dict[str, int] = dict(spent["split"])
        self._credits_refunded(
            spend_id=spend_id, amount=sum(split.values()), split=split, reason=reason
        )
        stale_daily = split.get("daily", 0)
        if stale_daily and spent["day"] != self.daily_day:
            self._daily_expired(day=spent["day"], amount=stale_daily)
        stale_subscription = split.get("subscription", 0)
        until = self.subscription_until
        if stale_subscription and (
            spent.get("earlier_period", False) or (until is not None and now >= until)
        ):
            # Spends remembered from before their period was noted: the current one's.
            period_end = spent.get("period_end") or until
            assert period_end is not None  # subscription credits come with a period
            self._subscription_credits_expired(amount=stale_subscription, period_end=period_end)
        return True

    @event(CreditsRefunded)
    def _credits_refunded(
        self, spend_id: UUID, amount: int, split: dict[str, int], reason: str
    ) -> None:
        for kind, returned in split.items():
            self.balances[kind] += returned
        self.open_spends.pop(spend_id.hex, None)

    def balance(self) -> dict[str, Any]:
        return {**self.balances, "total": self.total, "daily_day": self.daily_day}
