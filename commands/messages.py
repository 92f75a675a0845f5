"""Commands: what a user asks the write model to do, already authenticated and shaped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4


@dataclass(frozen=True)
class Actor:
    """Who sends a command. `tier` is the access token's claim, for logs and display only:
    the limits a command obeys come from the user's aggregates (subscription, perks)."""

    user_id: UUID
    tier: str = "free"


@dataclass(frozen=True)
class SignIn:
    provider: str
    subject: str
    email: str
    name: str


@dataclass(frozen=True)
class CreateTask:
    actor: Actor
    title: str
    description: str | None = None
    priority: str = "medium"
    due_date: datetime | None = None
    estimated_duration: int | None = None


@dataclass(frozen=True)
class UpdateTask:
    actor: Actor
    task_id: UUID
    version: int
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskCommand:
    """A command about one existing task, with nothing more to say than which."""

    actor: Actor
    task_id: UUID


@dataclass(frozen=True)
class CompleteTask(TaskCommand):
    force: bool = False  # also complete the open subtasks


class ReopenTask(TaskCommand):
    pass


class HideTask(TaskCommand):
    pass


class UnhideTask(TaskCommand):
    pass


class ArchiveTask(TaskCommand):
    pass


class UnarchiveTask(TaskCommand):
    pass


class DeleteTask(TaskCommand):
    pass


class RestoreTask(TaskCommand):
    pass


@dataclass(frozen=True)
class RefreshSession:
    refresh_token: str


@dataclass(frozen=True)
class Logout:
    refresh_token: str


@dataclass(frozen=True)
class UpdateProfile:
    actor: Actor
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AddSubtask(TaskCommand):
    title: str


@dataclass(frozen=True)
class SubtaskCommand(TaskCommand):
    subtask_id: UUID


@dataclass(frozen=True)
class RenameSubtask(SubtaskCommand):
    title: str


class CompleteSubtask(SubtaskCommand):
    pass


class ReopenSubtask(SubtaskCommand):
    pass


class RemoveSubtask(SubtaskCommand):
    pass


@dataclass(frozen=True)
class ReorderSubtasks(TaskCommand):
    subtask_ids: list[UUID]


@dataclass(frozen=True)
class AddNote(TaskCommand):
    content: str


@dataclass(frozen=True)
class EditNote(TaskCommand):
    note_id: UUID
    content: str


@dataclass(frozen=True)
class RemoveNote(TaskCommand):
    note_id: UUID


@dataclass(frozen=True)
class AddReminder(TaskCommand):
    """At `remind_at`, or `offset_minutes` before the due date: exactly one of them."""

    remind_at: datetime | None = None
    offset_minutes: int | None = None


@dataclass(frozen=True)
class ChangeReminder(TaskCommand):
    reminder_id: UUID
    remind_at: datetime | None = None
    offset_minutes: int | None = None


@dataclass(frozen=True)
class RemoveReminder(TaskCommand):
    reminder_id: UUID


@dataclass(frozen=True)
class FireReminder:
    """The scheduler's: fire this reminder if its time has come and it has not fired."""

    task_id: UUID
    reminder_id: UUID


@dataclass(frozen=True)
class CreateTemplate:
    """A recurring task. `timezone` defaults to the user's, `starts_at` to now (to the minute)."""

    actor: Actor
    title: str
    rrule: str
    description: str | None = None
    priority: str = "medium"
    estimated_duration: int | None = None
    timezone: str | None = None
    starts_at: datetime | None = None
    subtasks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class UpdateTemplate:
    actor: Actor
    template_id: UUID
    version: int
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateCommand:
    actor: Actor
    template_id: UUID


class PauseTemplate(TemplateCommand):
    pass


class ResumeTemplate(TemplateCommand):
    pass


class DeleteTemplate(TemplateCommand):
    pass


@dataclass(frozen=True)
class RunTemplate:
    """The scheduler's: create the instance of the template's due occurrence, if one is due."""

    template_id: UUID


@dataclass(frozen=True)
class StartFocus:
    actor: Actor
    task_id: UUID
    planned_minutes: int


@dataclass(frozen=True)
class EndFocus:
    actor: Actor
    session_id: UUID
    completed: bool


@dataclass(frozen=True)
class SpendCredits:
    actor: Actor
    amount: int
    reason: str  # what the credits paid for, e.g. "ai_chat"
    spend_id: UUID = field(default_factory=uuid4)


@dataclass(frozen=True)
class RefundCredits:
    actor: Actor
    spend_id: UUID
    reason: str  # why, e.g. "ai_provider_error"


@dataclass(frozen=True)
class ApplyBillingEvent:
    """A billing provider's event, its signature already checked."""

    event_id: str
    event_type: str  # subscription.activated|renewed|cancelled, credits.purchased
    user_id: UUID
    period_end: datetime | None = None
    credits: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MarkNotificationRead:
    actor: Actor
    notification_id: UUID


@dataclass(frozen=True)
class MarkAllNotificationsRead:
    actor: Actor


@dataclass(frozen=True)
class AskAssistant:
    actor: Actor
    message: str
    conversation_id: UUID | None = None  # None: a new conversation
    include_tasks: bool = True


@dataclass(frozen=True)
class GenerateSubtasks(TaskCommand):
    count: int | None = None  # None: as many as the task has room for, up to a default
    apply: bool = False


@dataclass(frozen=True)
class Transcribe:
    actor: Actor
    audio: bytes


@dataclass(frozen=True)
class AddVoiceNote(TaskCommand):
    audio: bytes = b""
