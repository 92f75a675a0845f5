"""Per-tier limits, as configured; the application asks here, never the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class TierLimits:
    active_tasks: int | None  # None: unlimited
    description_length: int
    subtasks_per_task: int | None = None
    notes_per_task: int | None = None


@dataclass(frozen=True)
class Limits:
    tiers: dict[str, TierLimits] = field(
        default_factory=lambda: {
            "free": TierLimits(
                active_tasks=50, description_length=1000, subtasks_per_task=4, notes_per_task=10
            ),
            "pro": TierLimits(
                active_tasks=None, description_length=2000, subtasks_per_task=10, notes_per_task=50
            ),
        }
    )
    due_date_horizon: timedelta = timedelta(days=30)
    tombstone_window: timedelta = timedelta(days=7)

    def for_tier(self, tier: str) -> TierLimits:
        # An unknown tier gets the strictest limits rather than none.
        return self.tiers.get(tier, self.tiers["free"])
