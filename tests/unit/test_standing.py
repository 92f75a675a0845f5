"""What the read API derives from rows and the clock: tier, balance on a new day, progress."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from aggregates.achievements import CATALOG, Perk
from readapi.standing import (
    balance_at,
    effective_limits,
    next_daily_reset,
    progress,
    stats_at,
    subscription_status,
    tier_at,
)

NOW = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
TIERS: dict[str, dict[str, int | None]] = {
    "free": {"active_tasks": 50, "subtasks_per_task": 4, "daily_credits": 10},
    "pro": {"active_tasks": None, "subtasks_per_task": 10, "daily_credits": 20},
}


def ledger_row(**changes: Any) -> dict[str, Any]:
    row = {
        "daily": 4,
        "daily_day": NOW.date(),
        "subscription": 30,
        "subscription_until": NOW + timedelta(days=3),
        "purchased": 7,
        "kickstart": 5,
        "version": 9,
    }
    return {**row, **changes}


def test_pro_lasts_until_the_period_ends_and_not_a_moment_longer() -> None:
    assert tier_at(NOW + timedelta(seconds=1), NOW) == "pro"
    assert tier_at(NOW, NOW) == "free"
    assert tier_at(None, NOW) == "free"


@pytest.mark.parametrize(
    ("period_end", "cancelled", "status"),
    [
        (NOW + timedelta(days=1), False, "active"),
        (NOW + timedelta(days=1), True, "cancelled"),
        (NOW - timedelta(days=1), True, "expired"),
        (NOW - timedelta(days=1), False, "expired"),
        (None, False, "none"),
    ],
)
def test_subscription_status_follows_the_period_end(
    period_end: datetime | None, cancelled: bool, status: str
) -> None:
    row = {"period_end": period_end, "cancel_at_period_end": cancelled}
    assert subscription_status(row, NOW) == status


def test_no_subscription_row_is_status_none() -> None:
    assert subscription_status(None, NOW) == "none"


def test_perks_raise_limits_but_unlimited_stays_unlimited() -> None:
    perk = Perk(extra_active_tasks=5, extra_daily_credits=2)
    assert effective_limits(TIERS, "free", perk) == {
        "active_tasks": 55,
        "subtasks_per_task": 4,
        "daily_credits": 12,
    }
    assert effective_limits(TIERS, "pro", perk)["active_tasks"] is None
    assert effective_limits(TIERS, "pro", perk)["daily_credits"] == 22


def test_the_balance_of_today_is_the_rows() -> None:
    balance = balance_at(ledger_row(), NOW, daily_allowance=10)
    assert {k: balance[k] for k in ("daily", "subscription", "purchased", "kickstart")} == {
        "daily": 4,
        "subscription": 30,
        "purchased": 7,
        "kickstart": 5,
    }
    assert (balance["total"], balance["version"]) == (46, 9)


def test_on_a_new_utc_day_yesterdays_daily_credits_are_gone_and_todays_allowance_is_there() -> None:
    tomorrow = NOW + timedelta(hours=1)  # 00:30 UTC the next day
    balance = balance_at(ledger_row(), tomorrow, daily_allowance=12)
    assert (balance["daily"], balance["total"]) == (12, 12 + 30 + 7 + 5)


def test_a_ledger_that_never_had_a_daily_grant_shows_the_allowance() -> None:
    assert balance_at(ledger_row(daily=0, daily_day=None), NOW, daily_allowance=10)["daily"] == 10


def test_subscription_credits_count_nothing_once_their_period_ended() -> None:
    row = ledger_row(subscription_until=NOW)
    balance = balance_at(row, NOW, daily_allowance=10)
    assert (balance["subscription"], balance["total"]) == (0, 4 + 7 + 5)


def test_a_user_without_a_ledger_has_only_todays_allowance() -> None:
    balance = balance_at(None, NOW, daily_allowance=20)
    assert balance == {
        "daily": 20,
        "subscription": 0,
        "purchased": 0,
        "kickstart": 0,
        "total": 20,
        "version": 0,
        "subscription_until": None,
    }


def test_daily_credits_reset_at_the_next_utc_midnight_whatever_the_offset() -> None:
    assert next_daily_reset(NOW) == datetime(2026, 11, 26, tzinfo=UTC)
    # Already the 26th in Tokyo, still the 25th in UTC: the reset is UTC's midnight.
    in_tokyo = datetime(2026, 11, 26, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert next_daily_reset(in_tokyo) == datetime(2026, 11, 26, tzinfo=UTC)


def test_a_streak_counts_until_a_day_is_missed_in_the_users_timezone() -> None:
    stats = {
        "completed_tasks": 9,
        "streak": 4,
        "best_streak": 6,
        "last_completion_day": date(2026, 11, 25),
        "focus_completions": 2,
    }
    # 23:30 UTC is already the 26th in Tokyo: yesterday's streak still counts there.
    assert stats_at(stats, NOW, "Asia/Tokyo")["current_streak"] == 4
    assert stats_at(stats, NOW + timedelta(days=1), "UTC")["current_streak"] == 4
    assert stats_at(stats, NOW + timedelta(days=2), "UTC")["current_streak"] == 0
    assert stats_at(stats, NOW, "UTC")["best_streak"] == 6


def test_stats_of_a_user_with_no_completion_are_zero() -> None:
    assert set(stats_at(None, NOW, "UTC").values()) == {0}


def test_progress_lists_what_is_not_unlocked_with_its_current_value() -> None:
    stats = {"completed_tasks": 12, "best_streak": 2, "focus_completions": 0}
    entries = {entry["code"]: entry for entry in progress(stats, ["first_task", "tasks_10"])}
    assert set(entries) == {d.code for d in CATALOG} - {"first_task", "tasks_10"}
    assert (entries["tasks_50"]["current"], entries["tasks_50"]["threshold"]) == (12, 50)
    assert entries["streak_3"]["current"] == 2
    assert entries["tasks_100"]["perk"] == Perk(extra_daily_credits=2)
    assert [e["code"] for e in progress(None, [])] == [d.code for d in CATALOG]
    assert all(e["current"] == 0 for e in progress(None, []))
