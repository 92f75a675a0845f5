"""A user's account as the read API answers it: subscription and achievements read from their
projections, combined with the clock (`readapi.standing`) into tier, limits, balance, progress.

Several routes need the same inputs (the tier decides the limits and the daily allowance, the
perks raise both), so they are read and turned into answers here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi.concurrency import run_in_threadpool

from aggregates.achievements import BY_CODE, NO_PERK, Perk
from infra.database import EVENT_STORE_NAME
from projections.achievements import AchievementsView
from projections.subscriptions import SubscriptionsView
from readapi import standing
from readapi.schemas import (
    AchievementsOut,
    BalanceOut,
    MeOut,
    NotificationOut,
    SubscriptionOut,
)

TierLimits = Mapping[str, Mapping[str, int | None]]


@dataclass(frozen=True)
class Account:
    """The rows a user's tier and limits come from, and the position they reflect."""

    subscription: dict[str, Any] | None
    stats: dict[str, Any] | None
    unlocked: list[dict[str, Any]]
    position: int

    @property
    def perk(self) -> Perk:
        return standing.perk_of(self.unlocked)

    def tier(self, now: datetime) -> str:
        return standing.tier_at(self.subscription["period_end"] if self.subscription else None, now)

    def limits(self, tier_limits: TierLimits, now: datetime) -> dict[str, int | None]:
        return standing.effective_limits(tier_limits, self.tier(now), self.perk)


async def read_account(
    subscriptions: SubscriptionsView, achievements: AchievementsView, user_id: UUID
) -> Account:
    subscription, subscriptions_position = await run_in_threadpool(
        subscriptions.get_subscription, user_id, EVENT_STORE_NAME
    )
    stats, unlocked, achievements_position = await run_in_threadpool(
        achievements.achievements_of, user_id, EVENT_STORE_NAME
    )
    return Account(
        subscription, stats, unlocked, min(subscriptions_position, achievements_position)
    )


def me_out(
    profile: Mapping[str, Any], account: Account, tier_limits: TierLimits, now: datetime
) -> MeOut:
    """The profile with the tier and limits of now (`read.users.tier` is not kept current)."""
    return MeOut.model_validate(
        {**profile, "tier": account.tier(now), "limits": account.limits(tier_limits, now)}
    )


def subscription_out(row: Mapping[str, Any] | None, now: datetime) -> SubscriptionOut:
    period_end = row["period_end"] if row else None
    return SubscriptionOut.model_validate(
        {
            "tier": standing.tier_at(period_end, now),
            "status": standing.subscription_status(row, now),
            "period_end": period_end,
            "cancel_at_period_end": bool(row and row["cancel_at_period_end"]),
        }
    )


def balance_out(
    ledger: Mapping[str, Any] | None, account: Account, tier_limits: TierLimits, now: datetime
) -> BalanceOut:
    allowance = account.limits(tier_limits, now).get("daily_credits") or 0
    return BalanceOut.model_validate(
        {
            **standing.balance_at(ledger, now, allowance),
            "daily_allowance": allowance,
            "next_daily_reset": standing.next_daily_reset(now),
        }
    )


def achievements_out(
    account: Account, timezone: str, tier_limits: TierLimits, now: datetime
) -> AchievementsOut:
    unlocked = []
    for row in account.unlocked:
        definition = BY_CODE.get(row["code"])
        unlocked.append(
            {
                **row,
                "description": definition.description if definition else "",
                "perk": asdict(definition.perk if definition else NO_PERK),
            }
        )
    progress = [
        {**entry, "perk": asdict(entry["perk"])}
        for entry in standing.progress(account.stats, (row["code"] for row in account.unlocked))
    ]
    return AchievementsOut.model_validate(
        {
            "stats": standing.stats_at(account.stats, now, timezone),
            "unlocked": unlocked,
            "progress": progress,
            "perks": asdict(account.perk),
            "tier": account.tier(now),
            "limits": account.limits(tier_limits, now),
        }
    )


def notification_out(row: Mapping[str, Any]) -> NotificationOut:
    return NotificationOut.model_validate({**row, "read": row["read_at"] is not None})
