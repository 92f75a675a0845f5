"""Commands: what a user asks the write model to do, already authenticated and shaped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Actor:
    """Who sends a command, with the tier their limits come from."""

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
class StartFocus:
    actor: Actor
    task_id: UUID
    planned_minutes: int


@dataclass(frozen=True)
class EndFocus:
    actor: Actor
    session_id: UUID
    completed: bool
