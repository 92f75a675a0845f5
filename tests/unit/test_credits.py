"""The credit ledger through the application, with a clock moved by hand."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from aggregates.credit_ledger import CreditLedger, InsufficientCreditsError
from aggregates.inbox import Inbox
from aggregates.subscription import BillingError
from aggregates.task_rules import SubtaskLimitExceededError
from commands.application import PerpetuaApplication
from commands.messages import (
    Actor,
    AddSubtask,
    ApplyBillingEvent,
    CreateTask,
    RefundCredits,
    SpendCredits,
)
from tests.fakes.clock import Clock


def ledger_of(app: PerpetuaApplication, user_id: UUID) -> CreditLedger:
    ledger: CreditLedger = app.repository.get(CreditLedger.create_id(user_id))
    return ledger


def events_of(app: PerpetuaApplication, user_id: UUID) -> list[str]:
    return [type(e).__name__ for e in app.events.get(CreditLedger.create_id(user_id))]


def spend(app: PerpetuaApplication, actor: Actor, amount: int) -> dict[str, int]:
    return app.spend_credits(SpendCredits(actor, amount, "test")).split


def billing(
    app: PerpetuaApplication, user_id: UUID, event_type: str, clock: Clock, **fields: object
) -> None:
    app.apply_billing_event(
        ApplyBillingEvent(
            f"evt_{event_type}_{clock.now.isoformat()}", event_type, user_id, **fields
        )  # type: ignore[arg-type]
    )


def test_a_new_user_has_fifteen_credits(app: PerpetuaApplication, alice: Actor) -> None:
    assert ledger_of(app, alice.user_id).balance() | {"daily_day": None} == {
        "daily": 10,
        "subscription": 0,
        "purchased": 0,
        "kickstart": 5,
        "total": 15,
        "daily_day": None,
    }
    assert events_of(app, alice.user_id) == ["Opened", "KickstartGranted", "DailyGranted"]


def test_spends_take_daily_then_subscription_then_purchased_then_kickstart(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    period_end = clock.now + timedelta(days=30)
    billing(app, alice.user_id, "subscription.activated", clock, period_end=period_end, credits=3)
    billing(app, alice.user_id, "credits.purchased", clock, credits=2)
    assert spend(app, alice, 9) == {"daily": 9}
    assert spend(app, alice, 3) == {"daily": 1, "subscription": 2}
    assert spend(app, alice, 4) == {"subscription": 1, "purchased": 2, "kickstart": 1}
    assert ledger_of(app, alice.user_id).balance()["total"] == 4


def test_a_spend_larger_than_the_balance_is_refused_and_records_nothing(
    app: PerpetuaApplication, alice: Actor
) -> None:
    before = ledger_of(app, alice.user_id).version
    with pytest.raises(InsufficientCreditsError) as refused:
        spend(app, alice, 16)
    assert refused.value.details == {"needed": 16, "available": 15}
    assert ledger_of(app, alice.user_id).version == before


def test_yesterdays_unused_daily_credits_expire_on_the_first_use_of_a_new_day(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    spend(app, alice, 4)
    clock.now += timedelta(days=1)
    spend(app, alice, 1)
    ledger = ledger_of(app, alice.user_id)
    assert ledger.balance()["daily"] == 9
    assert ledger.balance()["kickstart"] == 5
    history = list(app.events.get(ledger.id))
    expired = next(e for e in history if isinstance(e, CreditLedger.DailyExpired))
    assert (expired.day, expired.amount) == ("2026-11-25", 6)
    assert [type(e).__name__ for e in history[-3:]] == [
        "DailyExpired",
        "DailyGranted",
        "CreditsSpent",
    ]


def test_a_refund_returns_exactly_what_the_spend_took_once(
    app: PerpetuaApplication, alice: Actor
) -> None:
    command = SpendCredits(alice, 12, "ai_chat")
    assert app.spend_credits(command).split == {"daily": 10, "kickstart": 2}
    refunded = app.refund_credits(RefundCredits(alice, command.spend_id, "provider_error"))
    assert refunded.split == {"daily": 10, "kickstart": 2}
    assert ledger_of(app, alice.user_id).balance()["total"] == 15
    again = app.refund_credits(RefundCredits(alice, command.spend_id, "provider_error"))
    assert again.split == {}
    assert events_of(app, alice.user_id).count("CreditsRefunded") == 1


def test_daily_credits_refunded_after_their_day_ended_come_back_expired(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    command = SpendCredits(alice, 3, "ai_chat")
    app.spend_credits(command)
    clock.now += timedelta(days=1)
    app.refund_credits(RefundCredits(alice, command.spend_id, "provider_error"))
    assert ledger_of(app, alice.user_id).balance()["daily"] == 10
    assert events_of(app, alice.user_id)[-2:] == ["CreditsRefunded", "DailyExpired"]


def test_subscription_credits_refunded_after_their_period_ended_come_back_expired(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    period_end = clock.now + timedelta(days=1)
    billing(app, alice.user_id, "subscription.activated", clock, period_end=period_end)
    command = SpendCredits(alice, 25, "ai_chat")
    assert app.spend_credits(command).split == {"daily": 10, "subscription": 15}
    clock.now = period_end + timedelta(hours=1)
    app.refund_credits(RefundCredits(alice, command.spend_id, "provider_error"))
    assert ledger_of(app, alice.user_id).balance()["subscription"] == 0
    assert events_of(app, alice.user_id)[-3:] == [
        "CreditsRefunded",
        "DailyExpired",
        "SubscriptionCreditsExpired",
    ]


def test_subscription_credits_refunded_after_a_renewal_do_not_join_the_new_period(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    first_end = clock.now + timedelta(days=30)
    billing(app, alice.user_id, "subscription.activated", clock, period_end=first_end)
    command = SpendCredits(alice, 60, "ai_chat")  # 10 daily, 50 subscription: 50 left
    app.spend_credits(command)
    clock.now = first_end - timedelta(hours=1)
    billing(
        app, alice.user_id, "subscription.renewed", clock, period_end=first_end + timedelta(days=30)
    )
    app.refund_credits(RefundCredits(alice, command.spend_id, "provider_error"))
    # Unspent, they would have met the carry-over cap: 50 carried, 100 new.
    assert ledger_of(app, alice.user_id).balance()["subscription"] == 150


def test_at_renewal_unused_subscription_credits_carry_over_up_to_fifty(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    first_end = clock.now + timedelta(days=30)
    billing(app, alice.user_id, "subscription.activated", clock, period_end=first_end)
    spend(app, alice, 50)  # the day's 10 daily credits, then 40 of the 100 subscription ones
    clock.now = first_end - timedelta(hours=1)
    billing(
        app, alice.user_id, "subscription.renewed", clock, period_end=first_end + timedelta(days=30)
    )
    ledger = ledger_of(app, alice.user_id)
    renewal = [
        e
        for e in app.events.get(ledger.id)
        if isinstance(e, CreditLedger.SubscriptionCreditsGranted)
    ][-1]
    assert (renewal.carried_over, renewal.expired, renewal.amount) == (50, 10, 100)
    assert ledger.balance()["subscription"] == 150


def test_a_cancelled_subscription_is_pro_until_its_period_ends(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    period_end = clock.now + timedelta(days=10)
    billing(app, alice.user_id, "subscription.activated", clock, period_end=period_end)
    billing(app, alice.user_id, "subscription.cancelled", clock)
    task_id = app.create_task(CreateTask(alice, "Plan")).aggregate.id
    for number in range(5):  # a fifth subtask: more than free users may have
        app.add_subtask(AddSubtask(alice, task_id, f"step {number}"))
    clock.now = period_end
    with pytest.raises(SubtaskLimitExceededError):
        app.add_subtask(AddSubtask(alice, task_id, "one more"))
    spend(app, alice, 1)  # the first use after the period: its credits expire, with an event
    assert ledger_of(app, alice.user_id).balance()["subscription"] == 0
    assert "SubscriptionCreditsExpired" in events_of(app, alice.user_id)


def test_a_spend_that_leaves_less_than_two_credits_notifies_once_a_day(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    spend(app, alice, 14)
    spend(app, alice, 1)
    inbox: Inbox = app.repository.get(Inbox.create_id(alice.user_id))
    assert len(inbox.notifications) == 1
    clock.now += timedelta(days=1)
    spend(app, alice, 10)
    inbox = app.repository.get(Inbox.create_id(alice.user_id))
    assert len(inbox.notifications) == 2


def test_a_billing_event_is_applied_once(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    event = ApplyBillingEvent("evt_same", "credits.purchased", alice.user_id, credits=7)
    outcomes = [app.apply_billing_event(event).duplicate for _ in range(3)]
    assert outcomes == [False, True, True]
    assert ledger_of(app, alice.user_id).balance()["purchased"] == 7


def test_billing_events_for_unknown_users_or_without_their_fields_are_refused(
    app: PerpetuaApplication, alice: Actor
) -> None:
    with pytest.raises(BillingError):
        app.apply_billing_event(ApplyBillingEvent("evt_a", "credits.purchased", uuid4(), credits=1))
    with pytest.raises(BillingError):
        app.apply_billing_event(ApplyBillingEvent("evt_b", "subscription.activated", alice.user_id))
    with pytest.raises(BillingError):
        app.apply_billing_event(ApplyBillingEvent("evt_c", "subscription.cancelled", alice.user_id))
    with pytest.raises(BillingError):
        app.apply_billing_event(ApplyBillingEvent("evt_d", "credits.purchased", alice.user_id))
