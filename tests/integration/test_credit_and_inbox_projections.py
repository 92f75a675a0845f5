"""Credits, subscriptions, achievements and notifications projected from the store: the rows
say what the aggregates say, and a rebuild gives back exactly the same tables."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from aggregates.achievements import Achievements
from aggregates.credit_ledger import CreditLedger
from aggregates.inbox import Inbox, notification_id
from aggregates.subscription import BillingEvent, Subscription
from commands.application import PerpetuaApplication
from infra.database import EVENT_STORE_NAME, DatabaseAddress
from perpetua.wiring import build_views
from projections.notifications import NotificationsView
from projections.registry import PROJECTIONS
from projectors.rebuild import rebuild
from tests.integration.support import project, table_rows

pytestmark = pytest.mark.integration

NEW_MODELS = ["credits", "subscriptions", "achievements", "notifications"]
# Each table with an order that makes its rows comparable.
TABLES = {
    "credit_balances": "user_id",
    "credit_transactions": "position",
    "subscriptions": "id",
    "achievement_stats": "user_id",
    "achievement_unlocks": "user_id, code",
    "inboxes": "id",
    "notifications": "id",
}
DAY_1 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DAY_2 = DAY_1 + timedelta(days=1)
PERIOD_END = datetime(2026, 12, 24, tzinfo=UTC)


def write_ledger(app: PerpetuaApplication, user_id: UUID) -> tuple[CreditLedger, UUID]:
    """Every kind of ledger event; returns the ledger and the spend it refunds."""
    ledger = CreditLedger(user_id)
    ledger.grant_kickstart(5)
    ledger.bring_up_to(DAY_1, daily_allowance=10)
    ledger.purchase(20, reference="evt_purchase")
    app.save(ledger)
    refunded = uuid.uuid4()
    ledger.spend(12, spend_id=refunded, reason="ai_chat")  # all 10 daily, 2 purchased
    ledger.start_billing_period(
        amount=100, period_end=PERIOD_END, carry_over_cap=50, reference="evt_activated"
    )
    ledger.spend(3, spend_id=uuid.uuid4(), reason="subtask_generation")
    app.save(ledger)
    ledger.bring_up_to(DAY_2, daily_allowance=10)
    # Yesterday's daily credits come back and expire at once.
    ledger.refund(refunded, reason="provider_error", now=DAY_2)
    ledger.start_billing_period(
        amount=100,
        period_end=PERIOD_END + timedelta(days=30),
        carry_over_cap=50,
        reference="evt_renewed",
    )
    ledger.bring_up_to(PERIOD_END + timedelta(days=31), daily_allowance=10)
    app.save(ledger)
    return ledger, refunded


def write_achievements(app: PerpetuaApplication, user_id: UUID) -> Achievements:
    achievements = Achievements(user_id)
    for day in (DAY_1, DAY_2, DAY_2, DAY_2 + timedelta(days=1), DAY_1, DAY_1 + timedelta(days=9)):
        achievements.count_task_completion(uuid.uuid4(), at=day, timezone="Europe/Paris")
    achievements.uncount_task_completion(uuid.uuid4())
    achievements.count_focus_completion(uuid.uuid4(), at=DAY_2)
    app.save(achievements)
    return achievements


def write_inbox(app: PerpetuaApplication, user_id: UUID) -> Inbox:
    inbox = Inbox(user_id)
    first = inbox.post(kind="achievement", key="first_task", title="First step", body="Well done")
    inbox.post(kind="achievement", key="streak_3", title="On a roll", body="3 days")
    app.save(inbox)
    assert first is not None
    inbox.mark_read(first)
    inbox.post(kind="credits", key="low:2026-11-25", title="Low on credits", body="1 left")
    app.save(inbox)
    inbox.mark_all_read()
    inbox.post(kind="subscription", key="evt_renewed", title="Renewed", body="Thanks")
    app.save(inbox)
    return inbox


def write_subscription(app: PerpetuaApplication, user_id: UUID) -> Subscription:
    subscription = Subscription(user_id)
    subscription.activate(PERIOD_END, reference="evt_activated")
    subscription.renew(PERIOD_END + timedelta(days=30), reference="evt_renewed")
    subscription.cancel(reference="evt_cancelled")
    app.save(subscription)
    return subscription


@dataclass
class Written:
    """The aggregates a test wrote, and the tables projected from them."""

    user_id: UUID
    ledger: CreditLedger
    refunded: UUID
    achievements: Achievements
    inbox: Inbox
    subscription: Subscription
    tables: dict[str, list[dict[str, Any]]]


@pytest.fixture
def written(fresh_database: DatabaseAddress, application: PerpetuaApplication) -> Written:
    user_id = uuid.uuid4()
    ledger, refunded = write_ledger(application, user_id)
    achievements = write_achievements(application, user_id)
    inbox = write_inbox(application, user_id)
    subscription = write_subscription(application, user_id)
    project(fresh_database, application, NEW_MODELS)
    return Written(
        user_id, ledger, refunded, achievements, inbox, subscription, tables_of(fresh_database)
    )


def tables_of(address: DatabaseAddress) -> dict[str, list[dict[str, Any]]]:
    return {table: table_rows(address, table, order) for table, order in TABLES.items()}


def test_the_balance_row_is_the_ledgers_balance(written: Written) -> None:
    (balance,) = written.tables["credit_balances"]
    expected = written.ledger.balance()
    assert {kind: balance[kind] for kind in expected} == {
        **expected,
        "daily_day": date.fromisoformat(expected["daily_day"]),
    }
    assert (balance["subscription_until"], balance["version"]) == (
        PERIOD_END + timedelta(days=30),
        written.ledger.version,
    )


def test_the_history_has_every_ledger_event_and_adds_up_to_the_balance(written: Written) -> None:
    history = written.tables["credit_transactions"]
    assert len(history) == written.ledger.version - 1  # every event but the opening
    total = written.ledger.total
    assert sum(row["amount"] for row in history) == total == history[-1]["balance_after"]
    by_type = [
        (row["event_type"].split(".")[1], row["kind"], row["credit_kind"]) for row in history
    ]
    assert by_type == [
        ("KickstartGranted", "grant", "kickstart"),
        ("DailyGranted", "grant", "daily"),
        ("CreditsPurchased", "grant", "purchased"),
        ("CreditsSpent", "spend", None),
        ("SubscriptionCreditsGranted", "grant", "subscription"),
        ("CreditsSpent", "spend", None),
        ("DailyGranted", "grant", "daily"),
        ("CreditsRefunded", "refund", None),
        ("DailyExpired", "expiry", "daily"),
        ("SubscriptionCreditsGranted", "grant", "subscription"),
        ("SubscriptionCreditsExpired", "expiry", "subscription"),
        ("DailyExpired", "expiry", "daily"),
        ("DailyGranted", "grant", "daily"),
    ]
    spend = history[3]
    assert (spend["daily"], spend["purchased"], spend["amount"], spend["reason"]) == (
        -10,
        -2,
        -12,
        "ai_chat",
    )
    refund, expiry = history[7], history[8]
    assert (refund["spend_id"], refund["daily"], expiry["daily"]) == (written.refunded, 10, -10)
    renewal = history[9]
    assert (renewal["carried_over"], renewal["expired"], renewal["subscription"]) == (50, 47, 53)
    assert renewal["reference"] == "evt_renewed"


def test_achievement_stats_and_unlocks_are_the_aggregates(written: Written) -> None:
    achievements = written.achievements
    (stats,) = written.tables["achievement_stats"]
    assert (stats["completed_tasks"], stats["streak"], stats["best_streak"]) == (
        achievements.completed_tasks,
        achievements.streak,
        achievements.best_streak,
    )
    assert (stats["completed_tasks"], stats["streak"], stats["best_streak"]) == (5, 1, 3)
    assert stats["last_completion_day"] == date.fromisoformat(
        achievements.last_completion_day or ""
    )
    assert stats["focus_completions"] == achievements.focus_completions == 1
    perks = asdict(achievements.perks())
    assert {name: stats[name] for name in perks} == perks
    unlocks = {row["code"]: row["unlocked_at"] for row in written.tables["achievement_unlocks"]}
    assert unlocks == achievements.unlocked
    assert set(unlocks) == {"first_task", "streak_3", "focus_1"}


def test_notifications_keep_the_time_they_were_read(written: Written) -> None:
    notifications = {row["title"]: row for row in written.tables["notifications"]}
    assert {title for title, row in notifications.items() if row["read_at"] is None} == {"Renewed"}
    assert written.tables["inboxes"][0]["unread_count"] == written.inbox.unread_count == 1
    # Read one by one, then the rest all at once.
    assert notifications["First step"]["read_at"] < notifications["On a roll"]["read_at"]
    assert notifications["On a roll"]["read_at"] == notifications["Low on credits"]["read_at"]


def test_the_subscription_row_has_the_period_end_and_the_cancellation(written: Written) -> None:
    (row,) = written.tables["subscriptions"]
    assert (row["user_id"], row["period_end"], row["cancel_at_period_end"]) == (
        written.user_id,
        written.subscription.period_end,
        True,
    )
    assert row["cancelled_at"] is not None


def test_a_rebuild_reproduces_every_table_exactly(
    written: Written, fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    for name in NEW_MODELS:
        projection_class, view_class = PROJECTIONS[name]
        rebuild(application, fresh_database, projection_class, view_class)
    assert tables_of(fresh_database) == written.tables


def test_every_new_event_has_an_activity_row_that_says_what_happened(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    user_id = uuid.uuid4()
    write_ledger(application, user_id)
    write_achievements(application, user_id)
    write_inbox(application, user_id)
    write_subscription(application, user_id)
    billing = BillingEvent(
        event_id="evt_activated",
        event_type="subscription.activated",
        user_id=user_id,
        payload={"credits": 100},
    )
    application.save(billing)
    head = application.recorder.max_notification_id()

    project(fresh_database, application, ["activity"])
    rows = table_rows(fresh_database, "activity", "position")
    assert len(rows) == head
    assert {row["user_id"] for row in rows} == {user_id}
    said = {(row["entity_type"], row["action"], row["summary"]) for row in rows}
    first_step = notification_id(user_id, "achievement", "first_task")
    assert {
        ("credit_ledger", "opened", "credit ledger opened"),
        ("credit_ledger", "kickstart_granted", "credit ledger kickstart granted: 5 credits"),
        ("credit_ledger", "daily_granted", "credit ledger daily granted: 10 credits, 2026-11-24"),
        ("credit_ledger", "credits_spent", "credit ledger credits spent: 12 credits, ai_chat"),
        (
            "credit_ledger",
            "credits_refunded",
            "credit ledger credits refunded: 12 credits, provider_error",
        ),
        (
            "credit_ledger",
            "subscription_credits_granted",
            "credit ledger subscription credits granted: 100 credits, 50 carried over,"
            " 47 expired, period end 2027-01-23",
        ),
        ("achievements", "unlocked", "achievements unlocked: First step"),
        ("notification", "posted", "notification posted: First step"),
        ("notification", "read", "notification read"),
        ("inbox", "all_read", "inbox all read: 2 notifications"),
        ("subscription", "activated", "subscription activated: period end 2026-12-24"),
        ("subscription", "cancelled", "subscription cancelled"),
        ("billing_event", "received", "billing event received: subscription.activated"),
    } <= said
    posted = next(row for row in rows if row["event_type"] == "Inbox.NotificationPosted")
    assert posted["entity_id"] == first_step


def test_a_sync_page_of_notifications_never_splits_one_position(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    user_id = uuid.uuid4()
    inbox = Inbox(user_id)
    for number in range(5):
        inbox.post(kind="test", key=str(number), title=f"note {number}", body="")
    posted_at = application.save(inbox)[-1].notification.id
    inbox.mark_all_read()
    all_read_at = application.save(inbox)[-1].notification.id
    inbox.post(kind="test", key="later", title="later", body="")
    application.save(inbox)
    project(fresh_database, application, ["notifications"])

    view = build_views(fresh_database, ["notifications"])["notifications"]
    assert isinstance(view, NotificationsView)
    try:
        rows, more, _ = view.changed_since(user_id, posted_at, 2, EVENT_STORE_NAME)
        assert [row["last_position"] for row in rows] == [all_read_at] * 5
        assert more
        rest, more, _ = view.changed_since(user_id, all_read_at, 2, EVENT_STORE_NAME)
        assert ([row["title"] for row in rest], more) == (["later"], False)
        page = view.page(user_id, EVENT_STORE_NAME, unread=True, cursor=None, limit=10)
        assert ([row["title"] for row in page.rows], page.unread_count) == (["later"], 1)
    finally:
        view.datastore.close()
