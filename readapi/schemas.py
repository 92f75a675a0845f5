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


class HistoryEntryOut(BaseModel):
    version: int
    position: int
    type: str
    occurred_at: datetime
    actor: UUID
    data: dict[str, Any]


def task_out_of(task: Task) -> TaskOut:
    """A task replayed from its events, in the shape the projection serves."""
    return TaskOut(
        id=task.id,
        title=task.title,
        description=task.description,
        priority=task.priority,  # type: ignore[arg-type]  # validated by the domain
        due_date=task.due_date,
        estimated_duration=task.estimated_duration,
        focus_time_seconds=task.focus_time_seconds,
        completed=task.completed,
        completed_at=task.completed_at,
        completed_by=task.completed_by,  # type: ignore[arg-type]
        hidden=task.hidden,
        archived=task.archived,
        template_id=task.template_id,
        subtask_count=0,
        subtasks_completed=0,
        note_count=0,
        reminder_count=0,
        version=task.version,
        created_at=task.created_on,
        updated_at=task.modified_on,
    )
