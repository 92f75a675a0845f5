"""Task list: one row per task, with what a list screen and a detail screen show.

Table `read.tasks` (see docs/read-model.md). Deleted tasks keep their row with `deleted = true`
so recovery and sync can see them; the list and detail queries leave them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from psycopg.sql import SQL, Composable, Composed, Identifier

from aggregates.task import Task
from projections.base import ReadModelProjection, ReadModelView, ViewSession
from projections.cursors import cut_page, decode_cursor
from projections.note_rows import NoteRows
from projections.reminder_rows import DueReminder, ReminderRows
from projections.subtask_rows import SubtaskRows
from projections.task_fold import (
    FOLD_FROM,
    PRIORITY_RANK,
    UPDATABLE_COLUMNS,
    TaskListFold,
    created_columns,
)

# Tasks without a due date sort after every dated one.
NO_DUE_DATE = "'9999-12-31T00:00:00Z'::timestamptz"
SORT_EXPRESSIONS: dict[str, str] = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "due_date": f"COALESCE(due_date, {NO_DUE_DATE})",
    "priority": "priority_rank",
}
TASK_COLUMNS = (
    "id, owner_id, title, description, priority, due_date, estimated_duration,"
    " focus_time_seconds, completed, completed_at, completed_by, hidden, archived, deleted,"
    " template_id, subtask_count, subtasks_completed, note_count, reminder_count, version,"
    " created_at, updated_at, last_position"
)


@dataclass(frozen=True)
class TaskListQuery:
    owner_id: UUID
    completed: bool | None = None
    hidden: bool | None = False
    archived: bool | None = False
    priority: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    template_id: UUID | None = None
    search: str | None = None
    sort: str = "-created_at"
    cursor: str | None = None
    limit: int = 50

    @property
    def sort_field(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")


@dataclass(frozen=True)
class TaskPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    position: int


class TaskListView(ReadModelView):
    projection_name: ClassVar[str] = "task_list"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tasks = self.table("tasks")
        self.tasks_table = tasks
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id uuid PRIMARY KEY,"
                " owner_id uuid NOT NULL,"
                " title text NOT NULL,"
                " description text,"
                " priority text NOT NULL,"
                " priority_rank smallint NOT NULL,"
                " due_date timestamptz,"
                " estimated_duration integer,"
                " focus_time_seconds integer NOT NULL DEFAULT 0,"
                " completed boolean NOT NULL DEFAULT false,"
                " completed_at timestamptz,"
                " completed_by text,"
                " hidden boolean NOT NULL DEFAULT false,"
                " archived boolean NOT NULL DEFAULT false,"
                " deleted boolean NOT NULL DEFAULT false,"
                " template_id uuid,"
                " subtask_count integer NOT NULL DEFAULT 0,"
                " subtasks_completed integer NOT NULL DEFAULT 0,"
                " note_count integer NOT NULL DEFAULT 0,"
                " reminder_count integer NOT NULL DEFAULT 0,"
                " version integer NOT NULL,"
                " created_at timestamptz NOT NULL,"
                " updated_at timestamptz NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(tasks)
        )
        for suffix, columns in (
            ("owner_created", "owner_id, created_at, id"),
            ("owner_updated", "owner_id, updated_at, id"),
            ("owner_due", f"owner_id, (COALESCE(due_date, {NO_DUE_DATE})), id"),
            ("owner_priority", "owner_id, priority_rank, id"),
        ):
            self.reader_index(
                SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    Identifier(f"tasks_{suffix}_idx"), tasks, SQL(columns)
                )
            )
        self.subtasks = SubtaskRows(self, tasks)
        self.notes = NoteRows(self, tasks)
        self.reminders = ReminderRows(self, tasks)
        self._insert_task = SQL(
            "INSERT INTO {} (id, owner_id, title, description, priority, priority_rank, due_date,"
            " estimated_duration, template_id, version, created_at, updated_at, last_position)"
            " VALUES (%(id)s, %(owner_id)s, %(title)s, %(description)s, %(priority)s,"
            " %(priority_rank)s, %(due_date)s, %(estimated_duration)s, %(template_id)s,"
            " %(version)s, %(at)s, %(at)s, %(position)s)"
        ).format(tasks)
        self._get_task = SQL("SELECT {} FROM {} WHERE id = %s AND owner_id = %s").format(
            SQL(TASK_COLUMNS), tasks
        )
        self._add_focus_time = SQL(
            "UPDATE {} SET focus_time_seconds = focus_time_seconds + %(seconds)s,"
            " version = %(version)s, updated_at = %(at)s, last_position = %(position)s"
            " WHERE id = %(id)s"
        ).format(tasks)
        self._changed_since = SQL(
            "SELECT {} FROM {} WHERE owner_id = %s AND last_position > %s"
            " ORDER BY last_position LIMIT %s"
        ).format(SQL(TASK_COLUMNS), tasks)

    # -- writes (inside a projection session) -------------------------------------------------

    def insert_task(self, session: ViewSession, row: dict[str, Any]) -> None:
        session.execute(self._insert_task, {**row, "position": session.position})

    def update_task(
        self,
        session: ViewSession,
        task_id: UUID,
        changes: dict[str, Any],
        version: int,
        at: datetime,
    ) -> None:
        columns = {name: value for name, value in changes.items() if name in UPDATABLE_COLUMNS}
        if "priority" in columns:
            columns["priority_rank"] = PRIORITY_RANK[columns["priority"]]
        self.update_row(session, self.tasks_table, task_id, columns, version=version, at=at)

    def set_completed(
        self,
        session: ViewSession,
        task_id: UUID,
        *,
        completed_at: datetime | None,
        completed_by: str | None,
        version: int,
        at: datetime,
    ) -> None:
        columns = {
            "completed": completed_at is not None,
            "completed_at": completed_at,
            "completed_by": completed_by,
        }
        self.update_row(session, self.tasks_table, task_id, columns, version=version, at=at)

    def set_flag(
        self,
        session: ViewSession,
        task_id: UUID,
        flag: str,
        value: bool,
        version: int,
        at: datetime,
    ) -> None:
        """`hidden`, `archived` or `deleted`."""
        self.update_row(session, self.tasks_table, task_id, {flag: value}, version=version, at=at)

    def add_focus_time(
        self, session: ViewSession, task_id: UUID, seconds: int, version: int, at: datetime
    ) -> None:
        session.execute(
            self._add_focus_time,
            {"id": task_id, "seconds": seconds, "version": version, "at": at,
             "position": session.position},
        )  # fmt: skip

    # -- reads --------------------------------------------------------------------------------

    def get_task(
        self, owner_id: UUID, task_id: UUID, application_name: str
    ) -> tuple[dict[str, Any] | None, int]:
        """The live (not deleted) task, if it is this owner's, and the position it reflects."""
        # Its parts are read alongside, in the same round trip, whether or not it is found.
        (found, subtasks, notes, reminders), position = self.read_at_position(
            application_name,
            (self._get_task, (task_id, owner_id)),
            (self.subtasks._of_task, (task_id,)),
            (self.notes._of_task, (task_id,)),
            (self.reminders._of_task, (task_id,)),
        )
        row: dict[str, Any] | None = found[0] if found else None
        if row is None or row["deleted"]:
            return None, position
        row.update(subtasks=subtasks, notes=notes, reminders=reminders)
        return row, position

    def due_reminders(self, now: datetime, limit: int) -> list[DueReminder]:
        """Pending reminders whose time has come, oldest first: the scheduler's work."""
        with self.snapshot() as cursor:
            return self.reminders.due(cursor, now, limit)

    def changed_since(
        self, owner_id: UUID, since: int, limit: int, application_name: str
    ) -> tuple[list[dict[str, Any]], int]:
        """The owner's tasks changed after `since` (deleted ones too), oldest change first."""
        with self.snapshot() as cursor:
            rows = cursor.execute(self._changed_since, (owner_id, since, limit)).fetchall()
            position = self.position_in(cursor, application_name)
        return rows, position

    def list_tasks(self, query: TaskListQuery, application_name: str) -> TaskPage:
        statement, params = self._list_statement(query)
        params["application_name"] = application_name
        # One statement is one snapshot: rows and position agree without a transaction.
        with self.datastore.get_connection() as conn:
            rows = conn.execute(statement, params).fetchall()
        if rows:
            position = rows[0]["position"] or 0
        else:
            # No row to carry the position: read both again in one snapshot.
            (rows,), position = self.read_at_position(application_name, (statement, params))
        for row in rows:
            row.pop("position", None)
        rows, next_cursor = cut_page(rows, query.limit, query.sort, "sort_key")
        for row in rows:
            row.pop("sort_key")
        return TaskPage(rows=rows, next_cursor=next_cursor, position=position)

    def _list_statement(self, query: TaskListQuery) -> tuple[Composed, dict[str, Any]]:
        sort_key = SQL(SORT_EXPRESSIONS[query.sort_field])
        conditions: list[Composable] = [SQL("owner_id = %(owner_id)s"), SQL("NOT deleted")]
        params: dict[str, Any] = {"owner_id": query.owner_id, "limit": query.limit + 1}
        for column in ("completed", "hidden", "archived", "priority", "template_id"):
            value = getattr(query, column)
            if value is not None:
                conditions.append(SQL("{} = %({})s").format(Identifier(column), SQL(column)))
                params[column] = value
        if query.due_before is not None:
            conditions.append(SQL("due_date < %(due_before)s"))
            params["due_before"] = query.due_before
        if query.due_after is not None:
            conditions.append(SQL("due_date > %(due_after)s"))
            params["due_after"] = query.due_after
        if query.search:
            conditions.append(SQL("title ILIKE %(search)s ESCAPE '\\'"))
            escaped = query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params["search"] = f"%{escaped}%"
        if query.cursor is not None:
            key_type = int if query.sort_field == "priority" else datetime
            params["after_key"], params["after_id"] = decode_cursor(
                query.sort, query.cursor, key_type
            )
            comparison = SQL("<") if query.descending else SQL(">")
            conditions.append(
                SQL("({}, id) {} (%(after_key)s, %(after_id)s)").format(sort_key, comparison)
            )
        direction = SQL("DESC") if query.descending else SQL("ASC")
        statement = SQL(
            "SELECT {columns}, {sort_key} AS sort_key, ({position}) AS position"
            " FROM {table} WHERE {where}"
            " ORDER BY {sort_key} {direction}, id {direction} LIMIT %(limit)s"
        ).format(
            columns=SQL(TASK_COLUMNS),
            position=self._position_statement_named,
            sort_key=sort_key,
            table=self.tasks_table,
            where=SQL(" AND ").join(conditions),
            direction=direction,
        )
        return statement, params


class TaskListProjection(ReadModelProjection[TaskListView]):
    name = "task_list"

    def __init__(self, view: TaskListView) -> None:
        super().__init__(view)
        self._fold = TaskListFold(view)

    def apply_all(self, events: Sequence[tuple[Any, int]], session: ViewSession) -> None:
        """A batch of an event or two: a statement per change (the handlers below). A catch-up
        batch or a rebuild's page: folded in memory, each row written once (task_fold.py)."""
        if len(events) >= FOLD_FROM:
            self._fold.apply_all(events, session)
        else:
            super().apply_all(events, session)

    @singledispatchmethod
    def apply(self, domain_event: Any, session: ViewSession) -> None:
        """Not a task event: nothing to show."""

    @apply.register
    def task_created(self, event: Task.Created, session: ViewSession) -> None:
        self.view.insert_task(session, {**created_columns(event), "at": event.timestamp})

    @apply.register
    def task_updated(self, event: Task.Updated, session: ViewSession) -> None:
        self.view.update_task(
            session, event.originator_id, event.changes, event.originator_version, event.timestamp
        )

    @apply.register
    def task_completed(self, event: Task.Completed, session: ViewSession) -> None:
        self.view.set_completed(
            session,
            event.originator_id,
            completed_at=event.completed_at,
            completed_by=event.completed_by,
            version=event.originator_version,
            at=event.timestamp,
        )

    @apply.register
    def task_reopened(self, event: Task.Reopened, session: ViewSession) -> None:
        self.view.set_completed(
            session,
            event.originator_id,
            completed_at=None,
            completed_by=None,
            version=event.originator_version,
            at=event.timestamp,
        )

    @apply.register
    def task_hidden(self, event: Task.Hidden, session: ViewSession) -> None:
        self._flag(event, session, "hidden", True)

    @apply.register
    def task_unhidden(self, event: Task.Unhidden, session: ViewSession) -> None:
        self._flag(event, session, "hidden", False)

    @apply.register
    def task_archived(self, event: Task.Archived, session: ViewSession) -> None:
        self._flag(event, session, "archived", True)

    @apply.register
    def task_unarchived(self, event: Task.Unarchived, session: ViewSession) -> None:
        self._flag(event, session, "archived", False)

    @apply.register
    def task_deleted(self, event: Task.Deleted, session: ViewSession) -> None:
        self._flag(event, session, "deleted", True)

    @apply.register
    def task_restored(self, event: Task.Restored, session: ViewSession) -> None:
        self._flag(event, session, "deleted", False)

    def _flag(self, event: Task.Event, session: ViewSession, flag: str, value: bool) -> None:
        self.view.set_flag(
            session, event.originator_id, flag, value, event.originator_version, event.timestamp
        )

    @apply.register
    def task_subtask_added(self, event: Task.SubtaskAdded, session: ViewSession) -> None:
        self.view.subtasks.add(session, event.originator_id, event.subtask_id, event.title)
        self._recount(event, session)

    @apply.register
    def task_subtask_renamed(self, event: Task.SubtaskRenamed, session: ViewSession) -> None:
        self.view.subtasks.set(session, event.originator_id, event.subtask_id, "title", event.title)
        self._recount(event, session)

    @apply.register
    def task_subtask_completed(self, event: Task.SubtaskCompleted, session: ViewSession) -> None:
        self.view.subtasks.set(session, event.originator_id, event.subtask_id, "completed", True)
        self._recount(event, session)

    @apply.register
    def task_subtask_reopened(self, event: Task.SubtaskReopened, session: ViewSession) -> None:
        self.view.subtasks.set(session, event.originator_id, event.subtask_id, "completed", False)
        self._recount(event, session)

    @apply.register
    def task_subtask_removed(self, event: Task.SubtaskRemoved, session: ViewSession) -> None:
        self.view.subtasks.remove(session, event.subtask_id)
        self._recount(event, session)

    @apply.register
    def task_subtasks_reordered(self, event: Task.SubtasksReordered, session: ViewSession) -> None:
        self.view.subtasks.reorder(session, event.originator_id, event.order)
        self._recount(event, session)

    def _recount(self, event: Task.Event, session: ViewSession) -> None:
        self.view.subtasks.recount(
            session, event.originator_id, event.originator_version, event.timestamp
        )

    @apply.register
    def task_note_added(self, event: Task.NoteAdded, session: ViewSession) -> None:
        self.view.notes.add(
            session,
            event.originator_id,
            event.note_id,
            event.content,
            event.source,
            event.timestamp,
        )
        self._recount_notes(event, session)

    @apply.register
    def task_note_edited(self, event: Task.NoteEdited, session: ViewSession) -> None:
        self.view.notes.edit(
            session, event.originator_id, event.note_id, event.content, event.timestamp
        )
        self._recount_notes(event, session)

    @apply.register
    def task_note_removed(self, event: Task.NoteRemoved, session: ViewSession) -> None:
        self.view.notes.remove(session, event.originator_id, event.note_id)
        self._recount_notes(event, session)

    def _recount_notes(self, event: Task.Event, session: ViewSession) -> None:
        self.view.notes.recount(
            session, event.originator_id, event.originator_version, event.timestamp
        )

    @apply.register
    def task_focus_time_added(self, event: Task.FocusTimeAdded, session: ViewSession) -> None:
        self.view.add_focus_time(
            session, event.originator_id, event.seconds, event.originator_version, event.timestamp
        )

    @apply.register
    def task_reminder_added(self, event: Task.ReminderAdded, session: ViewSession) -> None:
        self.view.reminders.add(
            session,
            event.originator_id,
            event.reminder_id,
            (event.remind_at, event.offset_minutes, event.fires_at),
            event.timestamp,
        )
        self._recount_reminders(event, session)

    @apply.register
    def task_reminder_changed(self, event: Task.ReminderChanged, session: ViewSession) -> None:
        self.view.reminders.set_time(
            session,
            event.originator_id,
            event.reminder_id,
            (event.remind_at, event.offset_minutes, event.fires_at),
        )
        self._recount_reminders(event, session)

    @apply.register
    def task_reminder_rescheduled(
        self, event: Task.ReminderRescheduled, session: ViewSession
    ) -> None:
        self.view.reminders.move(session, event.originator_id, event.reminder_id, event.fires_at)
        self._recount_reminders(event, session)

    @apply.register
    def task_reminder_removed(self, event: Task.ReminderRemoved, session: ViewSession) -> None:
        self.view.reminders.remove(session, event.originator_id, event.reminder_id)
        self._recount_reminders(event, session)

    @apply.register
    def task_reminder_fired(self, event: Task.ReminderFired, session: ViewSession) -> None:
        self.view.reminders.close(
            session, event.originator_id, event.reminder_id, "fired", event.fired_at, event.late
        )
        self._recount_reminders(event, session)

    @apply.register
    def task_reminder_skipped(self, event: Task.ReminderSkipped, session: ViewSession) -> None:
        self.view.reminders.close(session, event.originator_id, event.reminder_id, "skipped")
        self._recount_reminders(event, session)

    def _recount_reminders(self, event: Task.Event, session: ViewSession) -> None:
        self.view.reminders.recount(
            session, event.originator_id, event.originator_version, event.timestamp
        )
