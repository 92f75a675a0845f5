"""Response bodies of the read API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

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


class TaskDetailOut(TaskOut):
    """One task with its parts."""

    subtasks: list[SubtaskOut]
    notes: list[NoteOut]


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


class SyncOut(BaseModel):
    tasks: list[TaskOut]
    deleted_task_ids: list[UUID]
    profile: MeOut | None
    position: int
    has_more: bool


def task_out_of(task: Task) -> TaskDetailOut:
    """A task replayed from its events, in the shape the projection serves."""
    state = task.state()
    counts = {
        "subtask_count": len(state["subtasks"]),
        "subtasks_completed": sum(1 for s in state["subtasks"] if s["completed"]),
        "note_count": len(state["notes"]),
        # Reminders don't exist yet.
        "reminder_count": 0,
    }
    return TaskDetailOut.model_validate({**state, **counts})
