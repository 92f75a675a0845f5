"""Credits and the subscription over HTTP: balance, history, tier, read from the projections."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from aggregates.credit_ledger import CreditLedger
from aggregates.subscription import Subscription
from commands.application import PerpetuaApplication
from tests.e2e.conftest import Service
from tests.e2e.support import read, saved, singleton

pytestmark = pytest.mark.e2e

KINDS = ("daily", "subscription", "purchased", "kickstart")


def next_utc_midnight() -> str:
    tomorrow = datetime.now(tz=UTC).date() + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC).isoformat()


def test_a_new_user_has_todays_daily_allowance_before_any_ledger_event(service: Service) -> None:
    headers, _, position = service.sign_up()
    before = next_utc_midnight()
    balance = read(service, "/api/v1/credits/balance", headers, position)["data"]
    assert (balance["daily"], balance["daily_allowance"]) == (10, 10)
    assert balance["total"] == sum(balance[kind] for kind in KINDS)
    assert balance["next_daily_reset"].replace("Z", "+00:00") in {before, next_utc_midnight()}
    subscription = read(service, "/api/v1/subscription", headers, position)["data"]
    assert subscription == {
        "tier": "free",
        "status": "none",
        "period_end": None,
        "cancel_at_period_end": False,
    }


def test_balance_and_history_follow_the_ledger(
    service: Service, store: PerpetuaApplication
) -> None:
    headers, user_id, _ = service.sign_up()
    ledger = singleton(store, CreditLedger, user_id)
    ledger.bring_up_to(datetime.now(tz=UTC), daily_allowance=10)
    ledger.purchase(7, reference="evt_bought")
    ledger.spend(3, spend_id=uuid.uuid4(), reason="ai_chat")
    position = saved(store, ledger)

    balance = read(service, "/api/v1/credits/balance", headers, position)["data"]
    assert (balance["daily"], balance["purchased"]) == (7, 7)
    assert balance["total"] == ledger.total == sum(balance[kind] for kind in KINDS)
    assert balance["version"] == ledger.version
    newest = read(service, "/api/v1/credits/history", headers, position, limit=2)["data"]
    spend, purchase = newest
    assert (spend["kind"], spend["amount"], spend["split"], spend["reason"]) == (
        "spend",
        -3,
        {"daily": -3},
        "ai_chat",
    )
    assert spend["balance_after"] == ledger.total
    assert (purchase["kind"], purchase["credit_kind"], purchase["amount"]) == (
        "grant",
        "purchased",
        7,
    )
    assert purchase["reference"] == "evt_bought"


def test_history_pages_through_every_transaction_exactly_once(
    service: Service, store: PerpetuaApplication
) -> None:
    headers, user_id, _ = service.sign_up()
    ledger = singleton(store, CreditLedger, user_id)
    for number in range(7):
        ledger.purchase(1, reference=f"evt_{number}")
    position = saved(store, ledger)
    everything = read(service, "/api/v1/credits/history", headers, position, limit=100)
    assert everything["meta"]["next_cursor"] is None
    expected = [entry["position"] for entry in everything["data"]]
    assert expected == sorted(expected, reverse=True)
    assert len(expected) == ledger.version - 1

    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = read(service, "/api/v1/credits/history", headers, position, **params)
        seen += [entry["position"] for entry in page["data"]]
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            break
    assert seen == expected


def test_a_subscription_makes_you_pro_until_its_period_ends(
    service: Service, store: PerpetuaApplication
) -> None:
    headers, user_id, _ = service.sign_up()
    period_end = datetime.now(tz=UTC) + timedelta(days=30)
    subscription = singleton(store, Subscription, user_id)
    subscription.activate(period_end, reference="evt_activated")
    ledger = singleton(store, CreditLedger, user_id)
    ledger.start_billing_period(
        amount=100, period_end=period_end, carry_over_cap=50, reference="evt_activated"
    )
    position = saved(store, subscription, ledger)

    state = read(service, "/api/v1/subscription", headers, position)["data"]
    assert (state["tier"], state["status"], state["cancel_at_period_end"]) == (
        "pro",
        "active",
        False,
    )
    balance = read(service, "/api/v1/credits/balance", headers, position)["data"]
    assert (balance["subscription"], balance["daily_allowance"]) == (100, 20)
    me = read(service, "/api/v1/users/me", headers, position)["data"]
    assert (me["tier"], me["limits"]["active_tasks"], me["limits"]["daily_credits"]) == (
        "pro",
        None,
        20,
    )

    subscription.cancel(reference="evt_cancelled")
    cancelled = read(service, "/api/v1/subscription", headers, saved(store, subscription))
    assert (cancelled["data"]["tier"], cancelled["data"]["status"]) == ("pro", "cancelled")


def test_a_period_that_has_ended_is_free_and_its_credits_count_nothing(
    service: Service, store: PerpetuaApplication
) -> None:
    headers, user_id, _ = service.sign_up()
    ended = datetime.now(tz=UTC) - timedelta(seconds=1)
    subscription = singleton(store, Subscription, user_id)
    subscription.activate(ended, reference="evt_long_ago")
    ledger = singleton(store, CreditLedger, user_id)
    ledger.start_billing_period(
        amount=100, period_end=ended, carry_over_cap=50, reference="evt_long_ago"
    )
    position = saved(store, subscription, ledger)

    state = read(service, "/api/v1/subscription", headers, position)["data"]
    assert (state["tier"], state["status"]) == ("free", "expired")
    balance = read(service, "/api/v1/credits/balance", headers, position)["data"]
    assert (balance["subscription"], balance["daily_allowance"]) == (0, 10)
    assert balance["total"] == sum(balance[kind] for kind in KINDS)


def test_history_answers_304_while_nothing_changed(service: Service) -> None:
    headers, _, position = service.sign_up()
    first = service.read.get(
        "/api/v1/credits/history", headers={**headers, "X-Min-Position": position}
    )
    again = service.read.get(
        "/api/v1/credits/history", headers={**headers, "If-None-Match": first.headers["ETag"]}
    )
    assert (first.status_code, again.status_code) == (200, 304)


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": "many"}, {"cursor": "not-a-cursor"}],
)
def test_bad_history_paging_is_422(service: Service, params: dict[str, object]) -> None:
    response = service.read.get("/api/v1/credits/history", params=params, headers=service.sign_in())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "path", ["/api/v1/credits/balance", "/api/v1/credits/history", "/api/v1/subscription"]
)
def test_credit_reads_need_a_token(service: Service, path: str) -> None:
    response = service.read.get(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"
