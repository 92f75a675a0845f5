"""The task list for a big batch: the rows of the tasks it touches, folded in memory, written once.

The task list's handlers (task_list.py and its row modules) write every event with statements
of its own: right for the live projector's batches of an event or two, but most of a rebuild's
time (a task's ~7 events cost ~10 statements, each parsed, planned and answered). For a batch of
at least `FOLD_FROM` events the projection instead

1. reads the rows of the tasks the batch touches, one statement per table (none for a task the
   batch creates: nothing of it can be stored before its first event),
2. applies the events to those rows in memory, by the same rules as the statements,
3. writes each task row once (an upsert) and the parts (subtasks, notes, reminders) of the tasks
   whose parts changed: those stored are deleted and the current ones inserted, all set-based.

The rules below mirror the statements in task_list.py, subtask_rows.py, note_rows.py and
reminder_rows.py, event by event; tests/integration/test_rebuild_equals_live.py holds the two
to the same rows for every kind of event, and a unit test to the same set of events.
One difference that cannot arise: the statements find a part by its id alone, the fold among
its task's parts (a part's id is made by its own task, never another's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from uuid import UUID

from psycopg.sql import SQL, Composed, Identifier

from aggregates.task import Task
from projections.base import ViewSession
from projections.binary_arrays import EncodedArray, encode_column

if TYPE_CHECKING:
    from projections.task_list import TaskListView

# Batches of at least this many events are folded (smaller ones: a statement per change).
FOLD_FROM = 16

Row: TypeAlias = dict[str, Any]

# Every column of each table, in the table's order, with its type for the set-based writes
# (`unnest` of arrays): a part's row is deleted and inserted whole, so a column left out here
# would be lost (tests/integration/test_task_fold_columns.py holds this to the tables).
TASK_ROW_TYPES: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("owner_id", "uuid"),
    ("title", "text"),
    ("description", "text"),
    ("priority", "text"),
    ("priority_rank", "smallint"),
    ("due_date", "timestamptz"),
    ("estimated_duration", "integer"),
    ("focus_time_seconds", "integer"),
    ("completed", "boolean"),
    ("completed_at", "timestamptz"),
    ("completed_by", "text"),
    ("hidden", "boolean"),
    ("archived", "boolean"),
    ("deleted", "boolean"),
    ("template_id", "uuid"),
    ("subtask_count", "integer"),
    ("subtasks_completed", "integer"),
    ("note_count", "integer"),
    ("reminder_count", "integer"),
    ("version", "integer"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("last_position", "bigint"),
)
PART_ROW_TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "subtasks": (
        ("id", "uuid"),
        ("task_id", "uuid"),
        ("title", "text"),
        ("completed", "boolean"),
        ("position", "integer"),
        ("last_position", "bigint"),
    ),
    "notes": (
        ("id", "uuid"),
        ("task_id", "uuid"),
        ("content", "text"),
        ("source", "text"),
        ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
        ("last_position", "bigint"),
    ),
    "reminders": (
        ("id", "uuid"),
        ("task_id", "uuid"),
        ("remind_at", "timestamptz"),
        ("offset_minutes", "integer"),
        ("fires_at", "timestamptz"),
        ("status", "text"),
        ("fired_at", "timestamptz"),
        ("late", "boolean"),
        ("created_at", "timestamptz"),
        ("last_position", "bigint"),
    ),
}
PARTS = tuple(PART_ROW_TYPES)
# The columns a task update may change, and the rank each priority sorts by (task_list.py).
# Final, as every module-level name used for each event: C variables where this module is
# compiled, not lookups in the module's dictionary (see binary_arrays.py).
UPDATABLE_COLUMNS: Final = frozenset(
    {"title", "description", "priority", "due_date", "estimated_duration"}
)
PRIORITY_RANK: Final = {"low": 1, "medium": 2, "high": 3}


@dataclass
class TaskImage:
    """A task's rows as the batch leaves them: the task row (None while the table has none)
    and its parts by id, in the order they were stored or added."""

    id: UUID
    task: Row | None = None
    parts: dict[str, dict[UUID, Row]] = field(default_factory=lambda: {part: {} for part in PARTS})
    stored: bool = False  # read from the tables: written back over what is there
    changed_parts: set[str] = field(default_factory=set)

    def stamp(self, event: Task.Event, position: int) -> None:
        """What every statement on the task row also sets."""
        task = self.task
        if task is not None:
            task["version"] = event.originator_version
            task["updated_at"] = event.timestamp
            task["last_position"] = position

    def part_changed(self, part: str, event: Task.Event, position: int) -> None:
        """After a change to `part`: the task is stamped now; its counts of the part
        (subtask_rows.recount etc.) are set from its rows when the batch is written
        (`counted`)."""
        self.changed_parts.add(part)
        self.stamp(event, position)

    def counted(self) -> None:
        """The task's counts of its changed parts, from its rows as the batch leaves them."""
        task = self.task
        if task is None:
            return
        for part in self.changed_parts:
            rows = self.parts[part]
            if part == "subtasks":
                task["subtask_count"] = len(rows)
                task["subtasks_completed"] = sum(1 for row in rows.values() if row["completed"])
            elif part == "notes":
                task["note_count"] = len(rows)
            else:
                task["reminder_count"] = len(rows)


Fold: TypeAlias = Callable[[TaskImage, Any, int], None]


class TaskListFold:
    """Folds a batch of events into the task list's tables (see the module's docstring)."""

    def __init__(self, view: TaskListView) -> None:
        schema = Identifier(view.datastore.schema)
        self._read: dict[str, Composed] = {
            "tasks": _select(schema, "tasks", TASK_ROW_TYPES, "id"),
            **{part: _select(schema, part, PART_ROW_TYPES[part], "task_id") for part in PARTS},
        }
        updates = SQL(", ").join(
            SQL("{0} = EXCLUDED.{0}").format(Identifier(name)) for name, _ in TASK_ROW_TYPES[1:]
        )
        self._upsert_tasks = SQL("{} ON CONFLICT (id) DO UPDATE SET {}").format(
            _insert(schema, "tasks", TASK_ROW_TYPES), updates
        )
        self._insert_parts = {part: _insert(schema, part, PART_ROW_TYPES[part]) for part in PARTS}
        self._delete_parts = {
            part: SQL("DELETE FROM {}.{} WHERE task_id = ANY(%b::uuid[])").format(
                schema, Identifier(part)
            )
            for part in PARTS
        }

    def apply_all(self, events: Sequence[tuple[Any, int]], session: ViewSession) -> None:
        task_events = [(event, position) for event, position in events if type(event) in FOLDS]
        images = self._read_images(task_events, session)
        for event, position in task_events:
            FOLDS[type(event)](images[event.originator_id.int], event, position)
        self._write(images, session)

    def _read_images(
        self, task_events: Sequence[tuple[Any, int]], session: ViewSession
    ) -> dict[int, TaskImage]:
        """The batch's tasks by their ids' integers (a UUID's hash is Python code)."""
        images: dict[int, TaskImage] = {}
        stored: list[UUID] = []
        for event, _ in task_events:
            task_id = event.originator_id
            if task_id.int not in images:
                images[task_id.int] = TaskImage(task_id)
                if not isinstance(event, Task.Created):
                    stored.append(task_id)
        if stored:
            ids = (encode_column("uuid", stored),)
            for row in session.fetchall(self._read["tasks"], ids):
                images[row["id"].int].task = row
            for part in PARTS:
                for row in session.fetchall(self._read[part], ids):
                    images[row["task_id"].int].parts[part][row["id"]] = row
            for task_id in stored:
                images[task_id.int].stored = True
        return images

    def _write(self, images: dict[int, TaskImage], session: ViewSession) -> None:
        for image in images.values():
            if image.changed_parts:
                image.counted()
        tasks = [image.task for image in images.values() if image.task is not None]
        if tasks:
            session.execute(self._upsert_tasks, _columns(tasks, TASK_ROW_TYPES))
        for part in PARTS:
            changed = [image for image in images.values() if part in image.changed_parts]
            stored = [image.id for image in changed if image.stored]
            if stored:
                session.execute(self._delete_parts[part], (encode_column("uuid", stored),))
            rows = [row for image in changed for row in image.parts[part].values()]
            if rows:
                session.execute(self._insert_parts[part], _columns(rows, PART_ROW_TYPES[part]))


def _select(
    schema: Identifier, table: str, columns: tuple[tuple[str, str], ...], key: str
) -> Composed:
    return SQL("SELECT {} FROM {}.{} WHERE {} = ANY(%b::uuid[])").format(
        SQL(", ").join(Identifier(name) for name, _ in columns),
        schema,
        Identifier(table),
        Identifier(key),
    )


def _insert(schema: Identifier, table: str, columns: tuple[tuple[str, str], ...]) -> Composed:
    # Arrays in binary (`%b`): psycopg writes their text form in Python, at several times the
    # cost (as the activity log does).
    return SQL("INSERT INTO {}.{} ({}) SELECT * FROM unnest({})").format(
        schema,
        Identifier(table),
        SQL(", ").join(Identifier(name) for name, _ in columns),
        SQL(", ").join(SQL("%b::{}[]").format(SQL(kind)) for _, kind in columns),
    )


def _columns(
    rows: Sequence[Row], columns: tuple[tuple[str, str], ...]
) -> list[EncodedArray | list[Any]]:
    return [encode_column(kind, list(map(itemgetter(name), rows))) for name, kind in columns]


# -- the rules, event by event (each mirrors its handler in task_list.py) -----------------------


def created_columns(event: Task.Created) -> Row:
    """What a task's first event says of its row: the handler's insert and the fold's both."""
    return {
        "id": event.originator_id,
        "owner_id": event.owner_id,
        "title": event.title,
        "description": event.description,
        "priority": event.priority,
        "priority_rank": PRIORITY_RANK[event.priority],
        "due_date": event.due_date,
        "estimated_duration": event.estimated_duration,
        "template_id": event.template_id,
        "version": event.originator_version,
    }


# A new task row's other columns, as the table's defaults have them.
_NEW_TASK: Final = {
    "focus_time_seconds": 0,
    "completed": False,
    "completed_at": None,
    "completed_by": None,
    "hidden": False,
    "archived": False,
    "deleted": False,
    "subtask_count": 0,
    "subtasks_completed": 0,
    "note_count": 0,
    "reminder_count": 0,
}


def _created(image: TaskImage, event: Task.Created, position: int) -> None:
    image.task = {
        **created_columns(event),
        **_NEW_TASK,
        "created_at": event.timestamp,
        "updated_at": event.timestamp,
        "last_position": position,
    }


def _updated(image: TaskImage, event: Task.Updated, position: int) -> None:
    if image.task is None:
        return
    columns = {name: value for name, value in event.changes.items() if name in UPDATABLE_COLUMNS}
    if "priority" in columns:
        columns["priority_rank"] = PRIORITY_RANK[columns["priority"]]
    image.task.update(columns)
    image.stamp(event, position)


def _set(**columns: Any) -> Fold:
    def fold(image: TaskImage, event: Task.Event, position: int) -> None:
        if image.task is not None:
            image.task.update(columns)
            image.stamp(event, position)

    return fold


def _completed(image: TaskImage, event: Task.Completed, position: int) -> None:
    if image.task is not None:
        image.task.update(
            completed=True, completed_at=event.completed_at, completed_by=event.completed_by
        )
        image.stamp(event, position)


def _focus_time_added(image: TaskImage, event: Task.FocusTimeAdded, position: int) -> None:
    if image.task is not None:
        image.task["focus_time_seconds"] += event.seconds
        image.stamp(event, position)


def _subtask_added(image: TaskImage, event: Task.SubtaskAdded, position: int) -> None:
    subtasks = image.parts["subtasks"]
    subtasks[event.subtask_id] = {
        "id": event.subtask_id, "task_id": event.originator_id, "title": event.title,
        "completed": False, "position": len(subtasks), "last_position": position,
    }  # fmt: skip
    image.part_changed("subtasks", event, position)


def _part_fold(part: str, id_field: str, columns: dict[str, Any], **from_fields: str) -> Fold:
    """Set `columns` and the event's `from_fields` (column -> event field) on one part row,
    found by the event's `id_field`, then mark the part changed."""

    def fold(image: TaskImage, event: Any, position: int) -> None:
        row = image.parts[part].get(getattr(event, id_field))
        if row is not None:
            row.update(columns)
            row.update({column: getattr(event, name) for column, name in from_fields.items()})
            row["last_position"] = position
        image.part_changed(part, event, position)

    return fold


def _subtask_removed(image: TaskImage, event: Task.SubtaskRemoved, position: int) -> None:
    subtasks = image.parts["subtasks"]
    removed = subtasks.pop(event.subtask_id, None)
    if removed is not None:  # close the gap it leaves
        for row in subtasks.values():
            if row["position"] > removed["position"]:
                row["position"] -= 1
    image.part_changed("subtasks", event, position)


def _subtasks_reordered(image: TaskImage, event: Task.SubtasksReordered, position: int) -> None:
    subtasks = image.parts["subtasks"]
    for place, subtask_id in enumerate(event.order):
        row = subtasks.get(subtask_id)
        if row is not None:
            row.update(position=place, last_position=position)
    image.part_changed("subtasks", event, position)


def _note_added(image: TaskImage, event: Task.NoteAdded, position: int) -> None:
    image.parts["notes"][event.note_id] = {
        "id": event.note_id, "task_id": event.originator_id, "content": event.content,
        "source": event.source, "created_at": event.timestamp, "updated_at": event.timestamp,
        "last_position": position,
    }  # fmt: skip
    image.part_changed("notes", event, position)


def _note_edited(image: TaskImage, event: Task.NoteEdited, position: int) -> None:
    row = image.parts["notes"].get(event.note_id)
    if row is not None:
        row.update(content=event.content, updated_at=event.timestamp, last_position=position)
    image.part_changed("notes", event, position)


def _removed(part: str, id_field: str) -> Fold:
    def fold(image: TaskImage, event: Any, position: int) -> None:
        image.parts[part].pop(getattr(event, id_field), None)
        image.part_changed(part, event, position)

    return fold


def _reminder_added(image: TaskImage, event: Task.ReminderAdded, position: int) -> None:
    image.parts["reminders"][event.reminder_id] = {
        "id": event.reminder_id, "task_id": event.originator_id, "remind_at": event.remind_at,
        "offset_minutes": event.offset_minutes, "fires_at": event.fires_at, "status": "pending",
        "fired_at": None, "late": False, "created_at": event.timestamp, "last_position": position,
    }  # fmt: skip
    image.part_changed("reminders", event, position)


FOLDS: Final[dict[type[Any], Fold]] = {
    Task.Created: _created,
    Task.Updated: _updated,
    Task.Completed: _completed,
    Task.Reopened: _set(completed=False, completed_at=None, completed_by=None),
    Task.Hidden: _set(hidden=True),
    Task.Unhidden: _set(hidden=False),
    Task.Archived: _set(archived=True),
    Task.Unarchived: _set(archived=False),
    Task.Deleted: _set(deleted=True),
    Task.Restored: _set(deleted=False),
    Task.FocusTimeAdded: _focus_time_added,
    Task.SubtaskAdded: _subtask_added,
    Task.SubtaskRenamed: _part_fold("subtasks", "subtask_id", {}, title="title"),
    Task.SubtaskCompleted: _part_fold("subtasks", "subtask_id", {"completed": True}),
    Task.SubtaskReopened: _part_fold("subtasks", "subtask_id", {"completed": False}),
    Task.SubtaskRemoved: _subtask_removed,
    Task.SubtasksReordered: _subtasks_reordered,
    Task.NoteAdded: _note_added,
    Task.NoteEdited: _note_edited,
    Task.NoteRemoved: _removed("notes", "note_id"),
    Task.ReminderAdded: _reminder_added,
    Task.ReminderChanged: _part_fold(
        "reminders",
        "reminder_id",
        {},
        remind_at="remind_at",
        offset_minutes="offset_minutes",
        fires_at="fires_at",
    ),
    Task.ReminderRescheduled: _part_fold("reminders", "reminder_id", {}, fires_at="fires_at"),
    Task.ReminderRemoved: _removed("reminders", "reminder_id"),
    Task.ReminderFired: _part_fold(
        "reminders", "reminder_id", {"status": "fired"}, fired_at="fired_at", late="late"
    ),
    Task.ReminderSkipped: _part_fold(
        "reminders", "reminder_id", {"status": "skipped", "fired_at": None, "late": False}
    ),
}
