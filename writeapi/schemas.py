"""Request and response bodies of the write API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from infra.text import FORBIDDEN_CHARACTER_MESSAGE, FORBIDDEN_CHARACTER_TYPE, forbidden_character

Title = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
# The tier's own limit (1000 free / 2000 pro) is the domain's to enforce, with its own code.
Description = Annotated[str, StringConstraints(max_length=2000)]
Priority = Literal["low", "medium", "high"]
Minutes = Annotated[int, Field(ge=1, le=720)]
Email = Annotated[
    str, StringConstraints(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]


class StrictBody(BaseModel):
    """The base of every command body: no unknown fields, no text the read model can't hold."""

    # An unknown field is a client bug worth hearing about, not something to drop silently.
    model_config = ConfigDict(extra="forbid")

    # "*" covers every field of every subclass, the ones added later too: text accepted here
    # goes into events, and events are forever (infra/text.py says what is refused and why).
    @field_validator("*")
    @classmethod
    def _refuse_forbidden_characters(cls, value: Any) -> Any:
        for text in _texts_in(value):
            character = forbidden_character(text)
            if character is not None:
                raise PydanticCustomError(
                    FORBIDDEN_CHARACTER_TYPE,
                    "Text {rule} (found {character})",
                    {"rule": FORBIDDEN_CHARACTER_MESSAGE, "character": character},
                )
        return value


def _texts_in(value: Any) -> list[str]:
    """Every string in a validated field value, nested lists and dicts (keys too) included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple | set | frozenset):
        return [text for item in value for text in _texts_in(item)]
    if isinstance(value, dict):
        return [text for pair in value.items() for item in pair for text in _texts_in(item)]
    return []  # numbers, UUIDs, times; a nested StrictBody checked its own fields


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


OffsetMinutes = Annotated[int, Field(ge=0, le=30 * 24 * 60)]


class ReminderBody(StrictBody):
    """Exactly one of the two: an instant, or minutes before the task's due date."""

    remind_at: AwareDatetime | None = None
    offset_minutes: OffsetMinutes | None = Field(
        default=None, description="Fire this long before the due date, and move with it."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ReminderBody:
        if (self.remind_at is None) == (self.offset_minutes is None):
            raise ValueError("give either remind_at or offset_minutes")
        return self


class ReminderOut(BaseModel):
    id: UUID
    remind_at: datetime | None
    offset_minutes: int | None
    fires_at: datetime
    status: Literal["pending", "fired", "skipped"]
    fired_at: datetime | None
    late: bool


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
    reminders: list[ReminderOut]


Rrule = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500),
    Field(description="An RFC 5545 RRULE, e.g. FREQ=DAILY;BYHOUR=9;BYMINUTE=0; at most hourly."),
]
TimezoneName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    Field(description="An IANA time zone, e.g. Europe/Amsterdam."),
]
Start = Annotated[AwareDatetime, Field(description="The rule's DTSTART; default: now.")]
# The tier's own limit (4 free / 10 pro + perks) is the domain's to enforce.
TemplateSubtasks = Annotated[list[Title], Field(max_length=50)]


class TemplateCreate(StrictBody):
    title: Title
    description: Description | None = None
    priority: Priority = "medium"
    estimated_duration: Minutes | None = None
    rrule: Rrule
    timezone: TimezoneName | None = Field(default=None, description="Default: yours.")
    starts_at: Start | None = None
    subtasks: TemplateSubtasks = Field(default_factory=list)


class TemplatePatch(StrictBody):
    """Only the fields present change; `null` clears description and estimated_duration."""

    version: Annotated[int, Field(ge=1, description="The version you last read.")]
    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    estimated_duration: Minutes | None = None
    rrule: Rrule | None = None
    timezone: TimezoneName | None = None
    starts_at: Start | None = None
    subtasks: TemplateSubtasks | None = None

    @model_validator(mode="after")
    def _no_null_for_required_fields(self) -> TemplatePatch:
        for name in ("title", "priority", "rrule", "timezone", "starts_at", "subtasks"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class TemplateOut(BaseModel):
    id: UUID
    title: str
    description: str | None
    priority: Priority
    estimated_duration: int | None
    rrule: str
    timezone: str
    starts_at: datetime
    subtasks: list[str]
    paused: bool
    deleted: bool
    next_occurrence_at: datetime | None
    last_occurrence_at: datetime | None
    instances_created: int
    occurrences_skipped: int
    version: int
    created_at: datetime
    updated_at: datetime


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


class BillingEventData(StrictBody):
    user_id: UUID
    period_end: AwareDatetime | None = None
    credits: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class BillingEventBody(StrictBody):
    """What the billing provider posts (SPEC section 6), exactly."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]
    type: Literal[
        "subscription.activated",
        "subscription.renewed",
        "subscription.cancelled",
        "credits.purchased",
    ]
    created_at: AwareDatetime | None = None
    data: BillingEventData


class BillingEventOut(BaseModel):
    id: str
    type: str
    duplicate: bool = Field(description="This event id was processed before; nothing changed.")


class NotificationReadOut(BaseModel):
    id: UUID
    read: bool


class NotificationsReadOut(BaseModel):
    marked_read: int


# -- AI (SPEC section 7) -------------------------------------------------------------------


class ChatBody(StrictBody):
    message: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"\S")]
    conversation_id: UUID | None = None  # none: a new conversation
    include_tasks: bool = True


class SuggestedAction(BaseModel):
    """A vetted suggestion: only the user's own task ids, fields the commands would accept."""

    type: Literal["complete_task", "create_task", "create_subtasks", "reschedule_task"]
    task_id: UUID | None = None
    title: str | None = None
    due_date: datetime | None = None
    subtasks: list[str] | None = None


class ChatOut(BaseModel):
    response: str
    suggested_actions: list[SuggestedAction]
    conversation_id: UUID
    credits_remaining: int


class GenerateSubtasksBody(StrictBody):
    # None: as many as the task has room for, up to 5.
    count: Annotated[int, Field(ge=1, le=10)] | None = None


class ProposedSubtaskOut(BaseModel):
    id: UUID | None = None  # set when the subtask was added (`?apply=true`)
    title: str


class GeneratedSubtasksOut(BaseModel):
    task_id: UUID
    applied: bool
    subtasks: list[ProposedSubtaskOut]
    task: TaskOut | None = None  # the task as it is now, when the subtasks were added
    credits_remaining: int


class TranscriptOut(BaseModel):
    text: str
    duration_seconds: float
    credits_remaining: int


class VoiceNoteOut(NoteOut):
    text: str  # the whole transcript (the note keeps at most 2000 characters of it)
    duration_seconds: float
    credits_remaining: int
