"""Where a user stands *now*: tier, limits, today's credits, progress toward achievements.

None of it is stored, because time alone changes it: a subscription turns free when its
period ends, daily credits renew at UTC midnight, a streak lapses after a day without a
completion. The projections keep the inputs (period end, the ledger's last balance, the
stats); these pure functions combine them with the clock whenever they are read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aggregates.achievements import CATALOG, Perk, current_streak, local_day, perks_of, with_perk
from aggregates.credit_ledger import SPEND_ORDER
from aggregates.subscription import FREE, PRO


def tier_at(period_end: datetime | None, now: datetime) -> str:
    """Pro until the paid period ends, cancelled or not; free before and after."""
    return PRO if period_end is not None and now < period_end else FREE


def subscription_status(subscription: Mapping[str, Any] | None, now: datetime) -> str:
    """`none`, `active`, `cancelled` (still pro until the period ends) or `expired`."""
    period_end = subscription["period_end"] if subscription else None
    if subscription is None or period_end is None:
        return "none"
    if now >= period_end:
        return "expired"
    return "cancelled" if subscription["cancel_at_period_end"] else "active"


def effective_limits(
    tier_limits: Mapping[str, Mapping[str, int | None]], tier: str, perk: Perk
) -> dict[str, int | None]:
    """The tier's limits raised by the perks of what the user unlocked (None: unlimited)."""
    return with_perk(dict(tier_limits.get(tier, tier_limits[FREE])), perk)


def perk_of(unlocked: Iterable[Mapping[str, Any]]) -> Perk:
    """The perks of these unlock rows, as the catalog defines them today."""
    return perks_of(row["code"] for row in unlocked)


def next_daily_reset(now: datetime) -> datetime:
    """The next UTC midnight: when today's daily credits expire and new ones are granted."""
    tomorrow = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(), tzinfo=UTC)


def balance_at(
    ledger: Mapping[str, Any] | None, now: datetime, daily_allowance: int
) -> dict[str, Any]:
    """The balance as the ledger will find it when next used at `now`.

    The row is the balance at the ledger's last event. If that was on an earlier UTC day,
    today's daily credits are the allowance (yesterday's are gone); subscription credits
    past their period's end count nothing. A user without a ledger has today's allowance.
    """
    today = now.astimezone(UTC).date()
    if ledger is None:
        balance = dict.fromkeys(SPEND_ORDER, 0)
        balance["daily"] = daily_allowance
        return {**balance, "total": daily_allowance, "version": 0, "subscription_until": None}
    balance = {kind: ledger[kind] for kind in SPEND_ORDER}
    daily_day: date | None = ledger["daily_day"]
    if daily_day is None or daily_day < today:
        balance["daily"] = daily_allowance
    until: datetime | None = ledger["subscription_until"]
    if until is not None and now >= until:
        balance["subscription"] = 0
    return {
        **balance,
        "total": sum(balance.values()),
        "version": ledger["version"],
        "subscription_until": until,
    }


def stats_at(stats: Mapping[str, Any] | None, now: datetime, timezone: str) -> dict[str, int]:
    """The achievement stats a user sees today, in their timezone (a lapsed streak is 0)."""
    if stats is None:
        return dict.fromkeys(
            ("completed_tasks", "current_streak", "best_streak", "focus_completions"), 0
        )
    last_day: date | None = stats["last_completion_day"]
    return {
        "completed_tasks": stats["completed_tasks"],
        "current_streak": current_streak(
            last_day.isoformat() if last_day else None,
            stats["streak"],
            local_day(now, timezone),
        ),
        "best_streak": stats["best_streak"],
        "focus_completions": stats["focus_completions"],
    }


def progress(stats: Mapping[str, Any] | None, unlocked: Iterable[str]) -> list[dict[str, Any]]:
    """Every catalog achievement not unlocked yet, in catalog order, with the metric's value."""
    done = set(unlocked)
    return [
        {
            "code": definition.code,
            "name": definition.name,
            "description": definition.description,
            "metric": definition.metric,
            "threshold": definition.threshold,
            "current": stats[definition.metric] if stats else 0,
            "perk": definition.perk,
        }
        for definition in CATALOG
        if definition.code not in done
    ]
