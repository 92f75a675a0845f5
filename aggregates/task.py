"""The Task aggregate: one per task, its events and guards (rules and errors: task_rules)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from aggregates.task_rules import (
    REMINDER_ON_TIME_SECONDS,
    InvalidSubtaskError,
    NoteLimitExceededError,
    NoteNotFoundError,
    ReminderAlreadyFiredError,
    ReminderLimitExceededError,
    ReminderNotFoundError,
    SubtaskLimitExceededError,
    SubtaskNotFoundError,
    SubtasksIncompleteError,
    TaskAlreadyCompletedError,
    TaskArchivedError,
    TaskNotCompletedError,
    TaskNotFoundError,
    TaskRules,
    TombstoneExpiredError,
    TombstoneNotFoundError,
    VersionConflictError,
)

# What happened to a reminder whose time came: it fired, or the task was closed by then.
FireOutcome = Literal["fired", "skipped"]


@dataclass
class Subtask:
    title: str
    completed: bool = False


@dataclass
class Note:
    content: str
    source: str = "text"


@dataclass
class Reminder:
    fires_at: datetime
    remind_at: datetime | None = None  # set: an absolute reminder
    offset_minutes: int | None = None  # set: this long before the due date
    status: str = "pending"  # pending -> fired, or skipped (the task was closed by then)
    fired_at: datetime | None = None
    late: bool = False


class Task(Aggregate):
    """A user's task. Its state is the replay of its events, which is what makes restore exact."""

    class Created(Aggregate.Created):
        owner_id: UUID
        title: str
        description: str | None
        priority: str
        due_date: datetime | None
        estimated_duration: int | None
        template_id: UUID | None

    class Updated(Aggregate.Event):
        changes: dict[str, Any]

    class Completed(Aggregate.Event):
        completed_at: datetime
        completed_by: str

    class Reopened(Aggregate.Event):
        pass

    class Hidden(Aggregate.Event):
        pass

    class Unhidden(Aggregate.Event):
        pass

    class Archived(Aggregate.Event):
        pass

    class Unarchived(Aggregate.Event):
        pass

    class Deleted(Aggregate.Event):
        # Owner and title ride along: the recovery list shows them without other lookups.
        owner_id: UUID
        title: str
        deleted_at: datetime
        recoverable_until: datetime

    class Restored(Aggregate.Event):
        pass

    class SubtaskAdded(Aggregate.Event):
        subtask_id: UUID
        title: str

    class SubtaskRenamed(Aggregate.Event):
        subtask_id: UUID
        title: str

    class SubtaskCompleted(Aggregate.Event):
        subtask_id: UUID

    class SubtaskReopened(Aggregate.Event):
        subtask_id: UUID

    class SubtaskRemoved(Aggregate.Event):
        subtask_id: UUID

    class SubtasksReordered(Aggregate.Event):
        order: list[UUID]

    class FocusTimeAdded(Aggregate.Event):
        seconds: int
        session_id: UUID

    class NoteAdded(Aggregate.Event):
        note_id: UUID
        content: str
        source: str

    class NoteEdited(Aggregate.Event):
        note_id: UUID
        content: str

    class NoteRemoved(Aggregate.Event):
        note_id: UUID

    class ReminderAdded(Aggregate.Event):
        reminder_id: UUID
        remind_at: datetime | None
        offset_minutes: int | None
        fires_at: datetime

    class ReminderChanged(Aggregate.Event):
        reminder_id: UUID
        remind_at: datetime | None
        offset_minutes: int | None
        fires_at: datetime

    class ReminderRescheduled(Aggregate.Event):
        # The due date moved, and this offset reminder with it.
        reminder_id: UUID
        fires_at: datetime

    class ReminderRemoved(Aggregate.Event):
        reminder_id: UUID

    class ReminderFired(Aggregate.Event):
        reminder_id: UUID
        scheduled_for: datetime
        fired_at: datetime
        delay_seconds: float
        late: bool

    class ReminderSkipped(Aggregate.Event):
        # Its time came while the task was completed, archived or deleted: nobody to remind.
        reminder_id: UUID
        scheduled_for: datetime
        reason: str

    @classmethod
    def create(
        cls,
        *,
        owner_id: UUID,
        rules: TaskRules,
        title: str,
        description: str | None = None,
        priority: str = "medium",
        due_date: datetime | None = None,
        estimated_duration: int | None = None,
        template_id: UUID | None = None,
        task_id: UUID | None = None,
    ) -> Task:
        """A new task; `task_id` for a deterministic one (a template's instance)."""
        fields: dict[str, Any] = {
            "title": title,
            "description": description,
            "priority": priority,
            "due_date": due_date,
            "estimated_duration": estimated_duration,
        }
        for name, value in fields.items():
            rules.check(name, value)
        if task_id is None:
            return cls(owner_id=owner_id, template_id=template_id, **fields)
        # Calling the class always makes a new id; the library's `_create` takes a given one.
        return cls._create(
            cls.Created, id=task_id, owner_id=owner_id, template_id=template_id, **fields
        )

    @event(Created)
    def __init__(
        self,
        owner_id: UUID,
        title: str,
        description: str | None,
        priority: str,
        due_date: datetime | None,
        estimated_duration: int | None,
        template_id: UUID | None,
    ) -> None:
        self.owner_id = owner_id
        self.title = title
        self.description = description
        self.priority = priority
        self.due_date = due_date
        self.estimated_duration = estimated_duration
        self.template_id = template_id
        self.focus_time_seconds = 0
        self.completed = False
        self.completed_at: datetime | None = None
        self.completed_by: str | None = None
        self.hidden = False
        self.archived = False
        self.deleted = False
        self.deleted_at: datetime | None = None
        self.recoverable_until: datetime | None = None
        # Subtask id -> [title, completed]; the list below is their order.
        self.subtasks: dict[UUID, Subtask] = {}
        self.subtask_order: list[UUID] = []
        self.notes: dict[UUID, Note] = {}  # in the order they were added
        self.reminders: dict[UUID, Reminder] = {}

    def state(self) -> dict[str, Any]:
        """The task as its users see it: every public field, by name."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "priority": self.priority,
            "due_date": self.due_date,
            "estimated_duration": self.estimated_duration,
            "focus_time_seconds": self.focus_time_seconds,
            "completed": self.completed,
            "completed_at": self.completed_at,
            "completed_by": self.completed_by,
            "hidden": self.hidden,
            "archived": self.archived,
            "template_id": self.template_id,
            "version": self.version,
            "created_at": self.created_on,
            "updated_at": self.modified_on,
            "subtasks": [
                {"id": sid, "position": index, **asdict(self.subtasks[sid])}
                for index, sid in enumerate(self.subtask_order)
            ],
            "notes": [{"id": nid, **asdict(note)} for nid, note in self.notes.items()],
            "reminders": [
                {"id": rid, **asdict(self.reminders[rid])} for rid in self.reminder_order
            ],
        }

    @property
    def reminder_order(self) -> list[UUID]:
        """Soonest first (the read model orders them the same way)."""
        return sorted(self.reminders, key=lambda rid: (self.reminders[rid].fires_at, rid))

    @property
    def open_subtasks(self) -> list[UUID]:
        return [sid for sid in self.subtask_order if not self.subtasks[sid].completed]

    @property
    def is_active(self) -> bool:
        """Counts against the active-task limit."""
        return not (self.completed or self.archived or self.deleted)

    def update(self, changes: dict[str, Any], *, expected_version: int, rules: TaskRules) -> bool:
        """Apply a PATCH; returns False when nothing actually changed (no event)."""
        if expected_version != self.version:
            raise VersionConflictError(
                "the task has changed since you read it", current_version=self.version
            )
        self._check_writable()
        for name, value in changes.items():
            rules.check(name, value)
        effective = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not effective:
            return False
        self._updated(changes=effective)
        if "due_date" in effective:
            self._follow_due_date()
        return True

    @event(Updated)
    def _updated(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    def complete(self, *, at: datetime, force: bool = False) -> None:
        """Complete; with open subtasks only when forced, which completes them too."""
        self._check_writable()
        if self.completed:
            raise TaskAlreadyCompletedError("the task is already completed")
        open_subtasks = self.open_subtasks
        if open_subtasks and not force:
            raise SubtasksIncompleteError(
                f"{len(open_subtasks)} subtask(s) are still open; complete them or force",
                open_subtasks=len(open_subtasks),
            )
        for subtask_id in open_subtasks:
            self._subtask_completed(subtask_id=subtask_id)
        self._completed(completed_at=at, completed_by="force" if force else "manual")

    @event(Completed)
    def _completed(self, completed_at: datetime, completed_by: str) -> None:
        self.completed = True
        self.completed_at = completed_at
        self.completed_by = completed_by

    def reopen(self) -> None:
        self._check_writable()
        if not self.completed:
            raise TaskNotCompletedError("the task is not completed")
        self._reopened()

    @event(Reopened)
    def _reopened(self) -> None:
        self.completed = False
        self.completed_at = None
        self.completed_by = None

    def hide(self) -> bool:
        """Leave the default list; False (no event) if already hidden."""
        self._check_writable()
        if self.hidden:
            return False
        self._hidden()
        return True

    @event(Hidden)
    def _hidden(self) -> None:
        self.hidden = True

    def unhide(self) -> bool:
        self._check_writable()
        if not self.hidden:
            return False
        self._unhidden()
        return True

    @event(Unhidden)
    def _unhidden(self) -> None:
        self.hidden = False

    def archive(self) -> bool:
        """Make the task read-only and leave the default list; False if already archived."""
        self._check_exists()
        if self.archived:
            return False
        self._archived()
        return True

    @event(Archived)
    def _archived(self) -> None:
        self.archived = True

    def unarchive(self) -> bool:
        self._check_exists()
        if not self.archived:
            return False
        self._unarchived()
        return True

    @event(Unarchived)
    def _unarchived(self) -> None:
        self.archived = False

    def delete(self, *, at: datetime, recoverable_for: timedelta) -> None:
        """Delete, recoverably: restoring within `recoverable_for` brings it all back."""
        self._check_exists()
        self._deleted(
            owner_id=self.owner_id,
            title=self.title,
            deleted_at=at,
            recoverable_until=at + recoverable_for,
        )

    @event(Deleted)
    def _deleted(
        self, owner_id: UUID, title: str, deleted_at: datetime, recoverable_until: datetime
    ) -> None:
        self.deleted = True
        self.deleted_at = deleted_at
        self.recoverable_until = recoverable_until

    def restore(self, *, now: datetime) -> None:
        if not self.deleted or self.recoverable_until is None:
            raise TombstoneNotFoundError("this task is not deleted")
        if now > self.recoverable_until:
            raise TombstoneExpiredError(
                "the task can no longer be restored",
                recoverable_until=self.recoverable_until.isoformat(),
            )
        self._restored()

    @event(Restored)
    def _restored(self) -> None:
        self.deleted = False
        self.deleted_at = None
        self.recoverable_until = None

    # -- subtasks: a completed task never has an open subtask ------------------------------

    def add_subtask(self, title: str, *, rules: TaskRules) -> UUID:
        """Append a subtask; on a completed task this reopens the task."""
        self._check_writable()
        rules.check_subtask_title(title)
        limit = rules.subtasks_per_task
        if limit is not None and len(self.subtasks) >= limit:
            raise SubtaskLimitExceededError(
                f"a task may have at most {limit} subtasks", limit=limit
            )
        if self.completed:
            self._reopened()
        subtask_id = uuid4()
        self._subtask_added(subtask_id=subtask_id, title=title)
        return subtask_id

    @event(SubtaskAdded)
    def _subtask_added(self, subtask_id: UUID, title: str) -> None:
        self.subtasks[subtask_id] = Subtask(title=title)
        self.subtask_order.append(subtask_id)

    def rename_subtask(self, subtask_id: UUID, title: str, *, rules: TaskRules) -> bool:
        subtask = self._subtask(subtask_id)
        rules.check_subtask_title(title)
        if subtask.title == title:
            return False
        self._subtask_renamed(subtask_id=subtask_id, title=title)
        return True

    @event(SubtaskRenamed)
    def _subtask_renamed(self, subtask_id: UUID, title: str) -> None:
        self.subtasks[subtask_id].title = title

    def complete_subtask(self, subtask_id: UUID, *, at: datetime) -> bool:
        """Completing the last open subtask completes the task (`completed_by` auto)."""
        if self._subtask(subtask_id).completed:
            return False
        self._subtask_completed(subtask_id=subtask_id)
        if not self.completed and not self.open_subtasks:
            self._completed(completed_at=at, completed_by="auto")
        return True

    @event(SubtaskCompleted)
    def _subtask_completed(self, subtask_id: UUID) -> None:
        self.subtasks[subtask_id].completed = True

    def reopen_subtask(self, subtask_id: UUID) -> bool:
        """Reopening a subtask of a completed task reopens the task."""
        if not self._subtask(subtask_id).completed:
            return False
        if self.completed:
            self._reopened()
        self._subtask_reopened(subtask_id=subtask_id)
        return True

    @event(SubtaskReopened)
    def _subtask_reopened(self, subtask_id: UUID) -> None:
        self.subtasks[subtask_id].completed = False

    def remove_subtask(self, subtask_id: UUID) -> None:
        self._subtask(subtask_id)
        self._subtask_removed(subtask_id=subtask_id)

    @event(SubtaskRemoved)
    def _subtask_removed(self, subtask_id: UUID) -> None:
        del self.subtasks[subtask_id]
        self.subtask_order.remove(subtask_id)

    def reorder_subtasks(self, order: list[UUID]) -> bool:
        """`order` must name every subtask exactly once."""
        self._check_writable()
        if sorted(order) != sorted(self.subtask_order) or len(set(order)) != len(order):
            raise InvalidSubtaskError(
                "order must list every subtask of the task exactly once", field="subtask_ids"
            )
        if order == self.subtask_order:
            return False
        self._subtasks_reordered(order=order)
        return True

    @event(SubtasksReordered)
    def _subtasks_reordered(self, order: list[UUID]) -> None:
        self.subtask_order = list(order)

    def add_focus_time(self, seconds: int, *, session_id: UUID) -> None:
        """Credit a focus session's time (also to an archived task: it was spent)."""
        self._check_exists()
        if seconds > 0:
            self._focus_time_added(seconds=seconds, session_id=session_id)

    @event(FocusTimeAdded)
    def _focus_time_added(self, seconds: int, session_id: UUID) -> None:
        self.focus_time_seconds += seconds

    def check_writable(self) -> None:
        """Raise if the task may not be worked on (deleted or archived)."""
        self._check_writable()

    # -- notes ------------------------------------------------------------------------------

    def add_note(self, content: str, *, rules: TaskRules, source: str = "text") -> UUID:
        self._check_writable()
        rules.check_note_content(content)
        limit = rules.notes_per_task
        if limit is not None and len(self.notes) >= limit:
            raise NoteLimitExceededError(f"a task may have at most {limit} notes", limit=limit)
        note_id = uuid4()
        self._note_added(note_id=note_id, content=content, source=source)
        return note_id

    @event(NoteAdded)
    def _note_added(self, note_id: UUID, content: str, source: str) -> None:
        self.notes[note_id] = Note(content=content, source=source)

    def edit_note(self, note_id: UUID, content: str, *, rules: TaskRules) -> bool:
        note = self._note(note_id)
        rules.check_note_content(content)
        if note.content == content:
            return False
        self._note_edited(note_id=note_id, content=content)
        return True

    @event(NoteEdited)
    def _note_edited(self, note_id: UUID, content: str) -> None:
        self.notes[note_id].content = content

    def remove_note(self, note_id: UUID) -> None:
        self._note(note_id)
        self._note_removed(note_id=note_id)

    @event(NoteRemoved)
    def _note_removed(self, note_id: UUID) -> None:
        del self.notes[note_id]

    # -- reminders: each fires once; offset ones follow the due date ----------------------

    def add_reminder(
        self, *, remind_at: datetime | None, offset_minutes: int | None, rules: TaskRules
    ) -> UUID:
        self._check_writable()
        fires_at = rules.reminder_time(remind_at, offset_minutes, self.due_date)
        limit = rules.reminders_per_task
        if limit is not None and len(self.reminders) >= limit:
            raise ReminderLimitExceededError(
                f"a task may have at most {limit} reminders", limit=limit
            )
        reminder_id = uuid4()
        self._reminder_added(
            reminder_id=reminder_id,
            remind_at=remind_at,
            offset_minutes=offset_minutes,
            fires_at=fires_at,
        )
        return reminder_id

    @event(ReminderAdded)
    def _reminder_added(
        self,
        reminder_id: UUID,
        remind_at: datetime | None,
        offset_minutes: int | None,
        fires_at: datetime,
    ) -> None:
        self.reminders[reminder_id] = Reminder(
            fires_at=fires_at, remind_at=remind_at, offset_minutes=offset_minutes
        )

    def change_reminder(
        self,
        reminder_id: UUID,
        *,
        remind_at: datetime | None,
        offset_minutes: int | None,
        rules: TaskRules,
    ) -> bool:
        """Set a pending reminder's time anew; a fired one is history (add another)."""
        reminder = self._reminder(reminder_id)
        if reminder.status != "pending":
            raise ReminderAlreadyFiredError(
                f"this reminder has {reminder.status}; add a new one", status=reminder.status
            )
        fires_at = rules.reminder_time(remind_at, offset_minutes, self.due_date)
        if (reminder.remind_at, reminder.offset_minutes) == (remind_at, offset_minutes):
            return False
        self._reminder_changed(
            reminder_id=reminder_id,
            remind_at=remind_at,
            offset_minutes=offset_minutes,
            fires_at=fires_at,
        )
        return True

    @event(ReminderChanged)
    def _reminder_changed(
        self,
        reminder_id: UUID,
        remind_at: datetime | None,
        offset_minutes: int | None,
        fires_at: datetime,
    ) -> None:
        reminder = self.reminders[reminder_id]
        reminder.remind_at, reminder.offset_minutes = remind_at, offset_minutes
        reminder.fires_at = fires_at

    def remove_reminder(self, reminder_id: UUID) -> None:
        self._reminder(reminder_id)
        self._reminder_removed(reminder_id=reminder_id)

    @event(ReminderRemoved)
    def _reminder_removed(self, reminder_id: UUID) -> None:
        del self.reminders[reminder_id]

    def _follow_due_date(self) -> None:
        """Offset reminders move with the due date; without a due date they have no time,
        so they go. A pending one moved into the past fires at the scheduler's next look."""
        for reminder_id in self.reminder_order:
            reminder = self.reminders[reminder_id]
            if reminder.offset_minutes is None:
                continue
            if self.due_date is None:
                self._reminder_removed(reminder_id=reminder_id)
                continue
            fires_at = (self.due_date - timedelta(minutes=reminder.offset_minutes)).astimezone(UTC)
            if reminder.status == "pending" and fires_at != reminder.fires_at:
                self._reminder_rescheduled(reminder_id=reminder_id, fires_at=fires_at)

    @event(ReminderRescheduled)
    def _reminder_rescheduled(self, reminder_id: UUID, fires_at: datetime) -> None:
        self.reminders[reminder_id].fires_at = fires_at

    def fire_reminder(self, reminder_id: UUID, *, now: datetime) -> FireOutcome | None:
        """Fire a pending reminder whose time has come: "fired", or "skipped" when the task
        is closed; None (no event) when there is nothing to do, e.g. it fired already."""
        reminder = self.reminders.get(reminder_id)
        if reminder is None or reminder.status != "pending" or reminder.fires_at > now:
            return None
        closed = self._closed_as
        if closed is not None:
            self._reminder_skipped(
                reminder_id=reminder_id, scheduled_for=reminder.fires_at, reason=closed
            )
            return "skipped"
        delay = round((now - reminder.fires_at).total_seconds(), 3)
        self._reminder_fired(
            reminder_id=reminder_id,
            scheduled_for=reminder.fires_at,
            fired_at=now,
            delay_seconds=delay,
            late=delay > REMINDER_ON_TIME_SECONDS,
        )
        return "fired"

    @event(ReminderFired)
    def _reminder_fired(
        self,
        reminder_id: UUID,
        scheduled_for: datetime,
        fired_at: datetime,
        delay_seconds: float,
        late: bool,
    ) -> None:
        reminder = self.reminders[reminder_id]
        reminder.status, reminder.fired_at, reminder.late = "fired", fired_at, late

    @event(ReminderSkipped)
    def _reminder_skipped(self, reminder_id: UUID, scheduled_for: datetime, reason: str) -> None:
        self.reminders[reminder_id].status = "skipped"

    @property
    def _closed_as(self) -> str | None:
        """Why nobody is to be reminded of this task now, if so."""
        for reason, closed in (
            ("deleted", self.deleted),
            ("archived", self.archived),
            ("completed", self.completed),
        ):
            if closed:
                return reason
        return None

    def _reminder(self, reminder_id: UUID) -> Reminder:
        self._check_writable()
        reminder = self.reminders.get(reminder_id)
        if reminder is None:
            raise ReminderNotFoundError("reminder not found")
        return reminder

    def _note(self, note_id: UUID) -> Note:
        self._check_writable()
        note = self.notes.get(note_id)
        if note is None:
            raise NoteNotFoundError("note not found")
        return note

    def _subtask(self, subtask_id: UUID) -> Subtask:
        self._check_writable()
        subtask = self.subtasks.get(subtask_id)
        if subtask is None:
            raise SubtaskNotFoundError("subtask not found")
        return subtask

    def _check_exists(self) -> None:
        if self.deleted:
            raise TaskNotFoundError("task not found")

    def _check_writable(self) -> None:
        self._check_exists()
        if self.archived:
            raise TaskArchivedError("the task is archived and read-only")
