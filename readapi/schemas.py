"""Response bodies of the read API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel


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
