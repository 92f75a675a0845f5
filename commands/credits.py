"""Credits: spend and refund on the user's ledger, and the billing events that feed it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from aggregates.credit_ledger import CreditLedger, utc_day
from aggregates.inbox import Inbox
from aggregates.subscription import BillingError, BillingEvent, Subscription
from aggregates.user import UserNotFoundError
from commands.base import CommandHandlers
from commands.messages import ApplyBillingEvent, RefundCredits, SpendCredits

SUBSCRIPTION_EVENTS = frozenset(
    {"subscription.activated", "subscription.renewed", "subscription.cancelled"}
)
BILLING_EVENT_TYPES = SUBSCRIPTION_EVENTS | {"credits.purchased"}


@dataclass(frozen=True)
class LedgerChange:
    """A ledger as a command left it, and the store position of the command's last event."""

    ledger: CreditLedger
    position: int
    split: dict[str, int]


@dataclass(frozen=True)
class BillingOutcome:
    duplicate: bool  # this event id was processed before: nothing changed now
    position: int


class CreditCommands(CommandHandlers):
    def spend_credits(self, command: SpendCredits) -> LedgerChange:
        """Take credits in spend order; 402 INSUFFICIENT_CREDITS (nothing recorded) if short.

        Concurrent spends race on the ledger's version and the loser decides again on the
        new balance, so the ledger can never go below zero.
        """
        user_id = command.actor.user_id

        def attempt() -> LedgerChange:
            ledger = self._ledger_now(user_id)
            split = ledger.spend(command.amount, spend_id=command.spend_id, reason=command.reason)
            changed: list[Aggregate] = [ledger]
            if ledger.total < self.limits.credits.low_balance:
                changed += self._warn_low_credits(user_id, ledger)
            return LedgerChange(ledger, self._save(*changed), split)

        return self._retry_on_conflict(attempt, user_id=user_id)

    def refund_credits(self, command: RefundCredits) -> LedgerChange:
        """Give back what a spend took, by a CreditsRefunded event; a second refund is a no-op."""

        def attempt() -> LedgerChange:
            ledger = self._ledger_now(command.actor.user_id)
            spent = ledger.open_spends.get(command.spend_id.hex, {}).get("split", {})
            if not ledger.refund(command.spend_id, reason=command.reason, now=self.clock()):
                return LedgerChange(ledger, self._head_position(), {})
            return LedgerChange(ledger, self._save(ledger), dict(spent))

        return self._retry_on_conflict(attempt, user_id=command.actor.user_id)

    def apply_billing_event(self, command: ApplyBillingEvent) -> BillingOutcome:
        """Apply a provider's event once: its record is saved in the same commit as its
        effects, so a replay (or a concurrent duplicate) finds it and changes nothing."""

        def attempt() -> BillingOutcome:
            record_id = BillingEvent.create_id(command.event_id)
            try:
                self.repository.get(record_id)
            except AggregateNotFoundError:
                pass
            else:
                return BillingOutcome(duplicate=True, position=self._head_position())
            try:
                self.get_user(command.user_id)
            except UserNotFoundError:
                raise BillingError("the event names an unknown user") from None
            record = BillingEvent(
                event_id=command.event_id,
                event_type=command.event_type,
                user_id=command.user_id,
                payload=command.payload,
            )
            changed = [record, *self._billing_effects(command)]
            return BillingOutcome(duplicate=False, position=self._save(*changed))

        return self._retry_on_conflict(attempt, user_id=command.user_id)

    def _billing_effects(self, command: ApplyBillingEvent) -> list[Aggregate]:
        user_id, reference = command.user_id, command.event_id
        if command.event_type not in BILLING_EVENT_TYPES:
            raise BillingError(f"unknown billing event type {command.event_type!r}")
        if command.event_type == "credits.purchased":
            if not command.credits or command.credits <= 0:
                raise BillingError("credits.purchased needs a positive `credits`")
            ledger = self._ledger_now(user_id)
            ledger.purchase(command.credits, reference=reference)
            return [ledger]
        subscription = self._singleton(Subscription, user_id)
        inbox = self._singleton(Inbox, user_id)
        if command.event_type == "subscription.cancelled":
            subscription.cancel(reference=reference)
            until = subscription.period_end
            inbox.post(
                kind="subscription",
                key=reference,
                title="Subscription cancelled",
                body=f"You keep Pro until {until.isoformat() if until else 'the period ends'}.",
            )
            return [subscription, inbox]
        if command.period_end is None:
            raise BillingError(f"{command.event_type} needs `period_end`")
        # Today's daily credits are decided before the tier changes: they stay as granted.
        ledger = self._ledger_now(user_id)
        if command.event_type == "subscription.activated":
            subscription.activate(command.period_end, reference=reference)
            title = "Welcome to Pro"
        else:
            subscription.renew(command.period_end, reference=reference)
            title = "Subscription renewed"
        credits = self.limits.credits
        ledger.start_billing_period(
            amount=credits.subscription_per_period if command.credits is None else command.credits,
            period_end=command.period_end,
            carry_over_cap=credits.carry_over_cap,
            reference=reference,
        )
        inbox.post(
            kind="subscription",
            key=reference,
            title=title,
            body=f"Pro until {command.period_end.isoformat()}.",
        )
        return [subscription, ledger, inbox]

    def _warn_low_credits(self, user_id: UUID, ledger: CreditLedger) -> list[Aggregate]:
        """At most one low-credit notification a (UTC) day."""
        inbox = self._singleton(Inbox, user_id)
        posted = inbox.post(
            kind="low_credits",
            key=utc_day(self.clock()),
            title="Credits running low",
            body=f"{ledger.total} credit(s) left; daily credits come back at UTC midnight.",
        )
        return [inbox] if posted else []
