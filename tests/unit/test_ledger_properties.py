"""Properties of the credit ledger: whatever spends, refunds, billing events and days go by, its
balance is what its events say, and no kind of credit ever goes below zero.

A state machine drives one user's ledger through the application (spend, refund, billing
webhook events, replays of them) on the in-memory store, with a clock moved by hand across
UTC midnights and billing periods. A refused command (not enough credits, nothing to cancel)
is an allowed outcome, and must record nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aggregates.credit_ledger import SPEND_ORDER, CreditLedger, utc_day
from aggregates.errors import DomainError
from commands.application import PerpetuaApplication
from commands.messages import Actor, ApplyBillingEvent, RefundCredits, SignIn, SpendCredits
from tests.fakes.clock import Clock

PICK = st.integers(min_value=0, max_value=1_000)


def changes_of(domain_event: Any) -> dict[str, int]:
    """What an event adds to (or takes from) each kind: grants and refunds add, spends and
    expiries take away."""
    match domain_event:
        case CreditLedger.KickstartGranted(amount=amount):
            return {"kickstart": amount}
        case CreditLedger.DailyGranted(amount=amount):
            return {"daily": amount}
        case CreditLedger.DailyExpired(amount=amount):
            return {"daily": -amount}
        case CreditLedger.SubscriptionCreditsGranted(amount=amount, expired=expired):
            return {"subscription": amount - expired}
        case CreditLedger.SubscriptionCreditsExpired(amount=amount):
            return {"subscription": -amount}
        case CreditLedger.CreditsPurchased(amount=amount):
            return {"purchased": amount}
        case CreditLedger.CreditsSpent(split=split):
            return {kind: -taken for kind, taken in split.items()}
        case CreditLedger.CreditsRefunded(split=split):
            return dict(split)
    return {}


class LedgerCommandSequences(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.app = PerpetuaApplication(
            env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=self.clock
        )
        user = self.app.sign_in(SignIn("dev", "alice", "alice@example.com", "Alice")).user
        self.actor = Actor(user.id)
        self.ledger_id = CreditLedger.create_id(user.id)
        self.spends: list[UUID] = []
        self.billing_events: list[ApplyBillingEvent] = []

    def attempt(self, command: Callable[[], object], *, uses_ledger: bool = True) -> bool:
        """Run a command; a refusal is fine, as long as it recorded nothing."""
        head = self.app.recorder.max_notification_id()
        try:
            command()
        except DomainError as error:
            event(f"refused: {type(error).__name__}")
            assert self.app.recorder.max_notification_id() == head
            return False
        if uses_ledger and self.app.recorder.max_notification_id() != head:
            self.check_nothing_outlives_its_time()
        return True

    def check_nothing_outlives_its_time(self) -> None:
        """Right after a command used the ledger, it holds no credit past its lifetime: no
        daily credits of another day, no subscription credits of an ended period."""
        ledger: CreditLedger = self.app.repository.get(self.ledger_id)
        now = self.clock.now
        if ledger.daily_day is not None and ledger.daily_day != utc_day(now):
            assert ledger.balances["daily"] == 0
        if ledger.subscription_until is not None and now >= ledger.subscription_until:
            assert ledger.balances["subscription"] == 0

    def bill(self, billing_event: ApplyBillingEvent) -> None:
        # A cancellation leaves the ledger alone: its credits stay until the period ends.
        uses_ledger = billing_event.event_type != "subscription.cancelled"
        if self.attempt(
            lambda: self.app.apply_billing_event(billing_event), uses_ledger=uses_ledger
        ):
            self.billing_events.append(billing_event)

    # -- rules -----------------------------------------------------------------------------

    @rule(amount=st.integers(min_value=1, max_value=25))
    def spend(self, amount: int) -> None:
        command = SpendCredits(self.actor, amount, "ai_chat")
        if self.attempt(lambda: self.app.spend_credits(command)):
            self.spends.append(command.spend_id)

    @precondition(lambda self: self.spends)
    @rule(number=PICK)
    def refund(self, number: int) -> None:
        """Refund a spend: the first time gives its credits back, later times nothing."""
        spend_id = self.spends[number % len(self.spends)]
        self.attempt(lambda: self.app.refund_credits(RefundCredits(self.actor, spend_id, "error")))

    @rule()
    def refund_of_an_unknown_spend(self) -> None:
        """Nothing to give back: nothing recorded (not even what time alone changed)."""
        head = self.app.recorder.max_notification_id()
        self.app.refund_credits(RefundCredits(self.actor, uuid4(), "error"))
        assert self.app.recorder.max_notification_id() == head

    @rule(hours=st.integers(min_value=1, max_value=60))
    def time_passes(self, hours: int) -> None:
        self.clock.now += timedelta(hours=hours)

    @rule(
        kind=st.sampled_from(["subscription.activated", "subscription.renewed"]),
        # Short periods too, so that sequences cross their ends.
        days=st.sampled_from([1, 2, 30]),
        credits=st.sampled_from([None, None, 0, 30, 150]),
    )
    def subscription_period(self, kind: str, days: int, credits: int | None) -> None:
        period_end = self.clock.now + timedelta(days=days)
        user_id = self.actor.user_id
        self.bill(ApplyBillingEvent(f"evt_{uuid4().hex}", kind, user_id, period_end, credits))

    @rule()
    def cancel(self) -> None:
        user_id = self.actor.user_id
        self.bill(ApplyBillingEvent(f"evt_{uuid4().hex}", "subscription.cancelled", user_id))

    @rule(credits=st.integers(min_value=1, max_value=60))
    def purchase(self, credits: int) -> None:
        user_id = self.actor.user_id
        self.bill(
            ApplyBillingEvent(f"evt_{uuid4().hex}", "credits.purchased", user_id, credits=credits)
        )

    @precondition(lambda self: self.billing_events)
    @rule(number=PICK)
    def billing_event_replayed(self, number: int) -> None:
        replayed = self.billing_events[number % len(self.billing_events)]
        head = self.app.recorder.max_notification_id()
        assert self.app.apply_billing_event(replayed).duplicate
        assert self.app.recorder.max_notification_id() == head

    # -- invariants ------------------------------------------------------------------------

    def events(self) -> list[Any]:
        return list(self.app.events.get(self.ledger_id))

    @invariant()
    def a_spend_is_refunded_at_most_once_and_exactly(self) -> None:
        events = self.events()
        spent = {e.spend_id: e.split for e in events if isinstance(e, CreditLedger.CreditsSpent)}
        refunds = [e for e in events if isinstance(e, CreditLedger.CreditsRefunded)]
        assert len({refund.spend_id for refund in refunds}) == len(refunds)
        assert all(refund.split == spent[refund.spend_id] for refund in refunds)

    @invariant()
    def the_balance_is_what_the_events_say_and_never_negative(self) -> None:
        ledger: CreditLedger | None = None
        expected = dict.fromkeys(SPEND_ORDER, 0)
        granted_today = granted_for_period = 0
        for domain_event in self.events():
            ledger = domain_event.mutate(ledger)
            assert ledger is not None
            for kind, change in changes_of(domain_event).items():
                expected[kind] += change
            if isinstance(domain_event, CreditLedger.DailyGranted):
                granted_today = domain_event.amount
            if isinstance(domain_event, CreditLedger.SubscriptionCreditsGranted):
                granted_for_period = domain_event.amount + domain_event.carried_over
            # At every event, not only at the end of a command.
            assert ledger.balances == expected
            assert min(expected.values()) >= 0
        current: CreditLedger = self.app.repository.get(self.ledger_id)
        assert current.balances == expected
        assert current.total == sum(expected.values())
        # A refund gives back what the user would have had, never a bigger day or period.
        # (Within its commit, a refund of credits whose time has passed returns them, then
        # expires them.)
        assert expected["daily"] <= granted_today
        assert expected["subscription"] <= granted_for_period


TestAnySequenceOfCreditCommandsKeepsTheLedgerExact = LedgerCommandSequences.TestCase
TestAnySequenceOfCreditCommandsKeepsTheLedgerExact.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
