"""Request and response bodies of the write API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Title = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
# The tier's own limit (1000 free / 2000 pro) is the domain's to enforce, with its own code.
Description = Annotated[str, StringConstraints(max_length=2000)]
Priority = Literal["low", "medium", "high"]
Minutes = Annotated[int, Field(ge=1, le=720)]
Email = Annotated[
    str, StringConstraints(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]


class StrictBody(BaseModel):
    # An unknown field is a client bug worth hearing about, not something to drop silently.
    model_config = ConfigDict(extra="forbid")


class DevLoginRequest(StrictBody):
    email: Email
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class UserOut(BaseModel):
    id: UUID
    email: str
    name: str
    tier: str


class GoogleLoginRequest(StrictBody):
    id_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class RefreshRequest(StrictBody):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105  # the scheme's name, not a secret
    expires_in: int
    user: UserOut


class LogoutOut(BaseModel):
    revoked: bool


class TaskCreate(StrictBody):
    title: Title
    description: Description | None = None
    priority: Priority = "medium"
    due_date: AwareDatetime | None = None
    estimated_duration: Minutes | None = None


class TaskPatch(StrictBody):
    """Only the fields present change; `null` clears description, due_date, estimated_duration."""

    version: Annotated[int, Field(ge=1, description="The version you last read.")]
    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    due_date: AwareDatetime | None = None
    estimated_duration: Minutes | None = None


class SubtaskOut(BaseModel):
    id: UUID
    title: str
    completed: bool
    position: int


class SubtaskCreate(StrictBody):
    title: Title


class SubtaskPatch(StrictBody):
    title: Title


class SubtaskOrder(StrictBody):
    subtask_ids: Annotated[list[UUID], Field(max_length=100, description="Every subtask, once.")]


class NoteBody(StrictBody):
    content: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"\S")]


class NoteOut(BaseModel):
    id: UUID
    content: str
    source: Literal["text", "voice"]


class TaskOut(BaseModel):
    id: UUID
    title: str
    description: str | None
    priority: Priority
    due_date: datetime | None
    estimated_duration: int | None
    focus_time_seconds: int
    completed: bool
    completed_at: datetime | None
    completed_by: Literal["manual", "auto", "force"] | None
    hidden: bool
    archived: bool
    template_id: UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    subtasks: list[SubtaskOut]
    notes: list[NoteOut]


class TombstoneOut(BaseModel):
    task_id: UUID
    title: str
    deleted_at: datetime
    recoverable_until: datetime


class ProfilePatch(StrictBody):
    """Only the fields present change; `null` clears the avatar (and is refused elsewhere)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"\S")] | None = (
        None
    )
    avatar_url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class ProfileOut(BaseModel):
    id: UUID
    email: str
    name: str
    avatar_url: str | None
    timezone: str
    tier: str
    version: int


class FocusStart(StrictBody):
    task_id: UUID
    planned_minutes: Minutes


class FocusEnd(StrictBody):
    completed: bool


class FocusSessionOut(BaseModel):
    id: UUID
    task_id: UUID
    planned_minutes: int
    started_at: datetime
    ended_at: datetime | None
    elapsed_seconds: int
    completed: bool
    counts_as_completion: bool
