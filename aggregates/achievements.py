"""Achievements: one per user, the stats they are earned by, what is unlocked, and its perks.

Saved in the same commit as the completion that moves the stats, so an unlock is never
missing or doubled. An unlocked achievement (and its perk) stays, even if the task that
reached the threshold is reopened later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from aggregates.ids import singleton_id

COMPLETED_TASKS, BEST_STREAK, FOCUS_COMPLETIONS = (
    "completed_tasks",
    "best_streak",
    "focus_completions",
)


@dataclass(frozen=True)
class Perk:
    """What an achievement adds to the user's limits."""

    extra_active_tasks: int = 0
    extra_subtasks: int = 0
    extra_daily_credits: int = 0

    def __add__(self, other: Perk) -> Perk:
        return Perk(
            self.extra_active_tasks + other.extra_active_tasks,
            self.extra_subtasks + other.extra_subtasks,
            self.extra_daily_credits + other.extra_daily_credits,
        )


NO_PERK = Perk()


@dataclass(frozen=True)
class AchievementDefinition:
    code: str
    name: str
    description: str
    metric: str  # COMPLETED_TASKS, BEST_STREAK or FOCUS_COMPLETIONS
    threshold: int
    perk: Perk = NO_PERK


CATALOG: tuple[AchievementDefinition, ...] = (
    AchievementDefinition(
        "first_task", "First step", "Complete your first task.", COMPLETED_TASKS, 1,
    ),
    AchievementDefinition(
        "tasks_10", "Getting things done", "Complete 10 tasks.", COMPLETED_TASKS, 10,
        Perk(extra_subtasks=1),
    ),
    AchievementDefinition(
        "tasks_50", "Finisher", "Complete 50 tasks.", COMPLETED_TASKS, 50,
        Perk(extra_active_tasks=10),
    ),
    AchievementDefinition(
        "tasks_100", "Centurion", "Complete 100 tasks.", COMPLETED_TASKS, 100,
        Perk(extra_daily_credits=2),
    ),
    AchievementDefinition(
        "tasks_500", "Unstoppable", "Complete 500 tasks.", COMPLETED_TASKS, 500,
        Perk(extra_active_tasks=25, extra_subtasks=2),
    ),
    AchievementDefinition(
        "streak_3", "On a roll", "Complete a task on 3 days in a row.", BEST_STREAK, 3,
    ),
    AchievementDefinition(
        "streak_7", "Week of focus", "Complete a task on 7 days in a row.", BEST_STREAK, 7,
        Perk(extra_daily_credits=1),
    ),
    AchievementDefinition(
        "streak_30", "Habit formed", "Complete a task on 30 days in a row.", BEST_STREAK, 30,
        Perk(extra_subtasks=1, extra_daily_credits=2),
    ),
    AchievementDefinition(
        "focus_1", "In the zone", "Complete a focus session of 25 minutes or more.",
        FOCUS_COMPLETIONS, 1,
    ),
    AchievementDefinition(
        "focus_10", "Deep worker", "Complete 10 focus sessions of 25 minutes or more.",
        FOCUS_COMPLETIONS, 10, Perk(extra_daily_credits=1),
    ),
    AchievementDefinition(
        "focus_50", "Flow master", "Complete 50 focus sessions of 25 minutes or more.",
        FOCUS_COMPLETIONS, 50, Perk(extra_active_tasks=10, extra_daily_credits=1),
    ),
)  # fmt: skip
BY_CODE = {definition.code: definition for definition in CATALOG}


def perks_of(codes: Iterable[str]) -> Perk:
    """The sum of the perks of these unlocked achievements (unknown codes add nothing)."""
    total = NO_PERK
    for code in codes:
        definition = BY_CODE.get(code)
        if definition is not None:
            total = total + definition.perk
    return total


def local_day(at: datetime, timezone: str) -> str:
    """The calendar day of `at` where the user lives: streaks follow their days, DST and all."""
    return at.astimezone(ZoneInfo(timezone)).date().isoformat()


def current_streak(last_day: str | None, streak: int, today: str) -> int:
    """A streak still counts today if its last day is today or yesterday."""
    if last_day is None:
        return 0
    gap = (date.fromisoformat(today) - date.fromisoformat(last_day)).days
    return streak if gap in (0, 1) else 0


class Achievements(Aggregate):
    class Started(Aggregate.Created):
        user_id: UUID

    class TaskCompletionCounted(Aggregate.Event):
        task_id: UUID
        day: str  # in the user's timezone

    class TaskCompletionUncounted(Aggregate.Event):
        task_id: UUID

    class FocusCompletionCounted(Aggregate.Event):
        session_id: UUID

    class Unlocked(Aggregate.Event):
        code: str
        name: str
        unlocked_at: datetime

    @staticmethod
    def create_id(user_id: UUID) -> UUID:
        return singleton_id("achievements", user_id)

    @event(Started)
    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        self.completed_tasks = 0
        self.focus_completions = 0
        self.streak = 0
        self.best_streak = 0
        self.last_completion_day: str | None = None
        self.unlocked: dict[str, datetime] = {}

    def count_task_completion(self, task_id: UUID, *, at: datetime, timezone: str) -> list[str]:
        """A task was completed; returns the codes this unlocks."""
        self._task_completion_counted(task_id=task_id, day=local_day(at, timezone))
        return self._unlock_reached(at)

    @event(TaskCompletionCounted)
    def _task_completion_counted(self, task_id: UUID, day: str) -> None:
        self.completed_tasks += 1
        last = self.last_completion_day
        if last is None or day > last:
            gap = None if last is None else (date.fromisoformat(day) - date.fromisoformat(last))
            self.streak = self.streak + 1 if gap == timedelta(days=1) else 1
            self.last_completion_day = day
            self.best_streak = max(self.best_streak, self.streak)

    def uncount_task_completion(self, task_id: UUID) -> None:
        """A completed task was reopened: it stops counting (its day stays in the streak)."""
        self._task_completion_uncounted(task_id=task_id)

    @event(TaskCompletionUncounted)
    def _task_completion_uncounted(self, task_id: UUID) -> None:
        self.completed_tasks = max(self.completed_tasks - 1, 0)

    def count_focus_completion(self, session_id: UUID, *, at: datetime) -> list[str]:
        self._focus_completion_counted(session_id=session_id)
        return self._unlock_reached(at)

    @event(FocusCompletionCounted)
    def _focus_completion_counted(self, session_id: UUID) -> None:
        self.focus_completions += 1

    def _unlock_reached(self, at: datetime) -> list[str]:
        newly = [
            definition
            for definition in CATALOG
            if definition.code not in self.unlocked
            and self.metric(definition.metric) >= definition.threshold
        ]
        for definition in newly:
            self._unlocked(code=definition.code, name=definition.name, unlocked_at=at)
        return [definition.code for definition in newly]

    @event(Unlocked)
    def _unlocked(self, code: str, name: str, unlocked_at: datetime) -> None:
        self.unlocked[code] = unlocked_at

    def metric(self, name: str) -> int:
        value: int = getattr(self, name)
        return value

    def perks(self) -> Perk:
        return perks_of(self.unlocked)


def with_perk(limits: dict[str, int | None], perk: Perk) -> dict[str, int | None]:
    """A tier's limits raised by a perk (None, unlimited, stays unlimited)."""
    raised = dict(limits)
    for name, extra in (
        ("active_tasks", perk.extra_active_tasks),
        ("subtasks_per_task", perk.extra_subtasks),
        ("daily_credits", perk.extra_daily_credits),
    ):
        value = raised.get(name)
        if value is not None:
            raised[name] = value + extra
    return raised
