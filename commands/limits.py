"""Per-tier limits and credit amounts, as configured; the application asks here, never the
settings. What applies to a user is their tier's limits raised by their achievements' perks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from aggregates.achievements import Perk


@dataclass(frozen=True)
class TierLimits:
    active_tasks: int | None  # None: unlimited
    description_length: int
    subtasks_per_task: int | None = None
    notes_per_task: int | None = None
    reminders_per_task: int | None = None
    daily_credits: int = 0

    def with_perk(self, perk: Perk) -> TierLimits:
        return replace(
            self,
            active_tasks=_raised(self.active_tasks, perk.extra_active_tasks),
            subtasks_per_task=_raised(self.subtasks_per_task, perk.extra_subtasks),
            daily_credits=self.daily_credits + perk.extra_daily_credits,
        )


def _raised(limit: int | None, extra: int) -> int | None:
    return None if limit is None else limit + extra


@dataclass(frozen=True)
class CreditAmounts:
    kickstart: int = 5
    subscription_per_period: int = 100
    carry_over_cap: int = 50
    low_balance: int = 2  # a spend leaving fewer than this notifies the user


@dataclass(frozen=True)
class AiAmounts:
    """What AI requests cost and how far they may go (SPEC section 7)."""

    chat_cost: int = 1
    subtasks_cost: int = 1
    transcription_cost_per_minute: int = 1
    turns_per_conversation: int = 10
    max_audio_seconds: int = 300
    context_tasks: int = 10  # incomplete tasks shown to the assistant
    max_suggested_actions: int = 5


@dataclass(frozen=True)
class Limits:
    tiers: dict[str, TierLimits] = field(
        default_factory=lambda: {
            "free": TierLimits(
                active_tasks=50,
                description_length=1000,
                subtasks_per_task=4,
                notes_per_task=10,
                reminders_per_task=3,
                daily_credits=10,
            ),
            "pro": TierLimits(
                active_tasks=None,
                description_length=2000,
                subtasks_per_task=10,
                notes_per_task=50,
                reminders_per_task=10,
                daily_credits=20,
            ),
        }
    )
    due_date_horizon: timedelta = timedelta(days=30)
    tombstone_window: timedelta = timedelta(days=7)
    credits: CreditAmounts = field(default_factory=CreditAmounts)
    ai: AiAmounts = field(default_factory=AiAmounts)

    def for_tier(self, tier: str) -> TierLimits:
        # An unknown tier gets the strictest limits rather than none.
        return self.tiers.get(tier, self.tiers["free"])
