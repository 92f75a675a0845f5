"""Response bodies of the read API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from aggregates.task import Task


class TaskOut(BaseModel):
    id: UUID
    title: str
    description: str | None
    priority: Literal["low", "medium", "high"]
    due_date: datetime | None
    estimated_duration: int | None
    focus_time_seconds: int
    completed: bool
    completed_at: datetime | None
    completed_by: Literal["manual", "auto", "force"] | None
    hidden: bool
    archived: bool
    template_id: UUID | None
    subtask_count: int
    subtasks_completed: int
    note_count: int
    reminder_count: int
    version: int
    created_at: datetime
    updated_at: datetime


class TombstoneOut(BaseModel):
    task_id: UUID
    title: str
    deleted_at: datetime
    recoverable_until: datetime


class SubtaskOut(BaseModel):
    id: UUID
    title: str
    completed: bool
    position: int


class NoteOut(BaseModel):
    id: UUID
    content: str
    source: Literal["text", "voice"]


class ReminderOut(BaseModel):
    id: UUID
    remind_at: datetime | None
    offset_minutes: int | None
    fires_at: datetime
    status: Literal["pending", "fired", "skipped"]
    fired_at: datetime | None
    late: bool


class TaskDetailOut(TaskOut):
    """One task with its parts."""

    subtasks: list[SubtaskOut]
    notes: list[NoteOut]
    reminders: list[ReminderOut]


class ActivityOut(BaseModel):
    position: int
    occurred_at: datetime
    actor: str
    entity_type: str
    entity_id: UUID
    action: str
    summary: str
    request_id: str | None
    event_type: str
    version: int


class HistoryEntryOut(BaseModel):
    version: int
    position: int
    type: str
    occurred_at: datetime
    actor: UUID
    data: dict[str, Any]


class EffectiveLimits(BaseModel):
    """None means unlimited."""

    active_tasks: int | None
    subtasks_per_task: int | None
    notes_per_task: int | None
    reminders_per_task: int | None
    description_length: int | None
    daily_credits: int | None


class MeOut(BaseModel):
    id: UUID
    email: str
    name: str
    avatar_url: str | None
    timezone: str
    tier: str
    version: int
    created_at: datetime
    limits: EffectiveLimits


class FocusSessionOut(BaseModel):
    id: UUID
    task_id: UUID
    planned_minutes: int
    started_at: datetime
    ended_at: datetime | None
    elapsed_seconds: int
    completed: bool
    counts_as_completion: bool


class BalanceOut(BaseModel):
    """Credits usable now, per kind, in spend order (daily first)."""

    daily: int
    subscription: int
    purchased: int
    kickstart: int
    total: int
    daily_allowance: int = Field(description="Daily credits granted each UTC day, perks included.")
    next_daily_reset: datetime = Field(description="The next UTC midnight.")
    subscription_until: datetime | None = Field(
        description="When the subscription credits expire; null without a subscription."
    )
    version: int = Field(description="The credit ledger's version; 0 before its first event.")


class CreditTransactionOut(BaseModel):
    position: int
    occurred_at: datetime
    kind: Literal["grant", "spend", "refund", "expiry"]
    credit_kind: Literal["daily", "subscription", "purchased", "kickstart"] | None = Field(
        description="The kind granted or expired; null for spends and refunds (see split)."
    )
    amount: int = Field(description="The change of the total: negative for spends and expiries.")
    split: dict[str, int] = Field(description="The change per credit kind; sums to amount.")
    balance_after: int
    reason: str | None
    reference: str | None = Field(description="The billing event behind a purchase or a period.")
    spend_id: UUID | None
    day: date | None = Field(description="The UTC day of a daily grant or expiry.")
    period_end: datetime | None
    carried_over: int | None = Field(description="Of a period's grant: unused credits kept.")
    expired: int | None = Field(description="Of a period's grant: unused credits over the cap.")


class SubscriptionOut(BaseModel):
    tier: Literal["free", "pro"]
    status: Literal["none", "active", "cancelled", "expired"]
    period_end: datetime | None
    cancel_at_period_end: bool


class PerkOut(BaseModel):
    extra_active_tasks: int
    extra_subtasks: int
    extra_daily_credits: int


class AchievementStatsOut(BaseModel):
    completed_tasks: int
    current_streak: int = Field(description="Days in a row with a completion, up to today.")
    best_streak: int
    focus_completions: int


class UnlockedAchievementOut(BaseModel):
    code: str
    name: str
    description: str
    unlocked_at: datetime
    perk: PerkOut


class AchievementProgressOut(BaseModel):
    code: str
    name: str
    description: str
    metric: Literal["completed_tasks", "best_streak", "focus_completions"]
    threshold: int
    current: int
    perk: PerkOut


class AchievementsOut(BaseModel):
    stats: AchievementStatsOut
    unlocked: list[UnlockedAchievementOut]
    progress: list[AchievementProgressOut] = Field(description="What is not unlocked yet.")
    perks: PerkOut = Field(description="The sum of the unlocked achievements' perks.")
    tier: Literal["free", "pro"]
    limits: EffectiveLimits


class NotificationOut(BaseModel):
    id: UUID
    kind: str
    title: str
    body: str
    created_at: datetime
    read: bool
    read_at: datetime | None


class TemplateOut(BaseModel):
    id: UUID
    title: str
    description: str | None
    priority: Literal["low", "medium", "high"]
    estimated_duration: int | None
    rrule: str
    timezone: str
    starts_at: datetime
    subtasks: list[str]
    paused: bool
    next_occurrence_at: datetime | None
    last_occurrence_at: datetime | None
    instances_created: int
    occurrences_skipped: int
    version: int
    created_at: datetime
    updated_at: datetime


class TemplateDetailOut(TemplateOut):
    next_occurrences: list[datetime]


class SyncOut(BaseModel):
    tasks: list[TaskOut]
    deleted_task_ids: list[UUID]
    profile: MeOut | None
    balance: BalanceOut | None
    notifications: list[NotificationOut] = Field(description="Posted or read since, by id.")
    achievements: AchievementsOut | None
    position: int
    has_more: bool


def task_out_of(task: Task) -> TaskDetailOut:
    """A task replayed from its events, in the shape the projection serves."""
    state = task.state()
    counts = {
        "subtask_count": len(state["subtasks"]),
        "subtasks_completed": sum(1 for s in state["subtasks"] if s["completed"]),
        "note_count": len(state["notes"]),
        "reminder_count": len(state["reminders"]),
    }
    return TaskDetailOut.model_validate({**state, **counts})
