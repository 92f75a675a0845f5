"""Recurring templates (`read.templates`): `GET /templates`, and the scheduler's list of
templates with an occurrence due. Deleted templates keep their row with `deleted = true`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from psycopg.sql import SQL, Composed, Identifier

from aggregates.template import EDITABLE_FIELDS, TaskTemplate
from projections.base import ReadModelProjection, ReadModelView, ViewSession
from projections.cursors import cut_page, decode_cursor

COLUMNS = (
    "id, title, description, priority, estimated_duration, rrule, timezone, starts_at, subtasks,"
    " paused, next_occurrence_at, last_occurrence_at, instances_created, occurrences_skipped,"
    " version, created_at, updated_at"
)
ORDER = "-position"


@dataclass(frozen=True)
class DueTemplate:
    template_id: UUID
    next_occurrence_at: datetime


class TemplatesView(ReadModelView):
    projection_name: ClassVar[str] = "templates"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = self.table("templates")
        self.templates_table = table
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id uuid PRIMARY KEY,"
                " owner_id uuid NOT NULL,"
                " title text NOT NULL,"
                " description text,"
                " priority text NOT NULL,"
                " estimated_duration integer,"
                " rrule text NOT NULL,"
                " timezone text NOT NULL,"
                " starts_at timestamp NOT NULL,"
                " subtasks text[] NOT NULL,"
                " paused boolean NOT NULL DEFAULT false,"
                " deleted boolean NOT NULL DEFAULT false,"
                " next_occurrence_at timestamptz,"
                " last_occurrence_at timestamptz,"
                " instances_created integer NOT NULL DEFAULT 0,"
                " occurrences_skipped integer NOT NULL DEFAULT 0,"
                " version integer NOT NULL,"
                " created_at timestamptz NOT NULL,"
                " updated_at timestamptz NOT NULL,"
                " created_position bigint NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(table)
        )
        self.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (owner_id, created_position)").format(
                Identifier("templates_owner_idx"), table
            )
        )
        # Paused and deleted templates have no next occurrence: the index holds only live ones.
        self.sql_create_statements.append(
            SQL(
                "CREATE INDEX IF NOT EXISTS {} ON {} (next_occurrence_at)"
                " WHERE next_occurrence_at IS NOT NULL"
            ).format(Identifier("templates_due_idx"), table)
        )
        self._insert = SQL(
            "INSERT INTO {} (id, owner_id, title, description, priority, estimated_duration,"
            " rrule, timezone, starts_at, subtasks, next_occurrence_at, version, created_at,"
            " updated_at, created_position, last_position) VALUES (%(id)s, %(owner_id)s,"
            " %(title)s, %(description)s, %(priority)s, %(estimated_duration)s, %(rrule)s,"
            " %(timezone)s, %(starts_at)s, %(subtasks)s, %(next_occurrence_at)s, %(version)s,"
            " %(at)s, %(at)s, %(position)s, %(position)s)"
        ).format(table)
        self._count = {
            column: SQL(
                "UPDATE {} SET {column} = {column} + 1, last_occurrence_at = %s,"
                " next_occurrence_at = %s, version = %s, updated_at = %s, last_position = %s"
                " WHERE id = %s"
            ).format(table, column=Identifier(column))
            for column in ("instances_created", "occurrences_skipped")
        }
        listing = (
            "SELECT {columns}, created_position FROM {table} WHERE owner_id = %(owner_id)s"
            " AND NOT deleted {more} ORDER BY created_position DESC LIMIT %(limit)s"
        )
        self._first_page = SQL(listing).format(columns=SQL(COLUMNS), table=table, more=SQL(""))
        self._next_page = SQL(listing).format(
            columns=SQL(COLUMNS), table=table, more=SQL("AND created_position < %(after)s")
        )
        self._get = SQL("SELECT {} FROM {} WHERE id = %s AND owner_id = %s AND NOT deleted").format(
            SQL(COLUMNS), table
        )
        self._due = SQL(
            "SELECT id AS template_id, next_occurrence_at FROM {} WHERE next_occurrence_at <= %s"
            " ORDER BY next_occurrence_at, id LIMIT %s"
        ).format(table)

    # -- writes (inside a projection session) -------------------------------------------------

    def insert(self, session: ViewSession, row: dict[str, Any]) -> None:
        session.execute(self._insert, {**row, "position": session.position})

    def update(
        self,
        session: ViewSession,
        template_id: UUID,
        columns: dict[str, Any],
        version: int,
        at: datetime,
    ) -> None:
        self.update_row(session, self.templates_table, template_id, columns, version=version, at=at)

    def count_occurrence(
        self,
        session: ViewSession,
        template_id: UUID,
        column: str,
        occurrence: tuple[datetime, datetime | None],
        version: int,
        at: datetime,
    ) -> None:
        """One more instance or skip: `occurrence` is (its time, the next occurrence)."""
        params = (*occurrence, version, at, session.position, template_id)
        session.execute(self._count[column], params)

    # -- reads --------------------------------------------------------------------------------

    def templates(
        self, owner_id: UUID, application_name: str, *, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None, int]:
        """The owner's templates, newest first, a page at a time."""
        params: dict[str, Any] = {"owner_id": owner_id, "limit": limit + 1}
        statement: Composed = self._first_page
        if cursor is not None:
            params["after"], _ = decode_cursor(ORDER, cursor, int)
            statement = self._next_page
        with self.snapshot() as snapshot:
            rows = snapshot.execute(statement, params).fetchall()
            position = self.position_in(snapshot, application_name)
        rows, next_cursor = cut_page(rows, limit, ORDER, "created_position")
        return rows, next_cursor, position

    def get_template(
        self, owner_id: UUID, template_id: UUID, application_name: str
    ) -> tuple[dict[str, Any] | None, int]:
        with self.snapshot() as snapshot:
            row = snapshot.execute(self._get, (template_id, owner_id)).fetchone()
            position = self.position_in(snapshot, application_name)
        return row, position

    def due_templates(self, now: datetime, limit: int) -> list[DueTemplate]:
        """Templates whose next occurrence has come, oldest first: the scheduler's work."""
        with self.snapshot() as snapshot:
            rows = snapshot.execute(self._due, (now, limit)).fetchall()
        return [DueTemplate(**row) for row in rows]


class TemplatesProjection(ReadModelProjection[TemplatesView]):
    name = "templates"

    @singledispatchmethod
    def apply(self, domain_event: Any, session: ViewSession) -> None:
        """Only templates show here (their instances are tasks, in the task list)."""

    @apply.register
    def task_template_created(self, event: TaskTemplate.Created, session: ViewSession) -> None:
        self.view.insert(
            session,
            {
                "id": event.originator_id,
                "owner_id": event.owner_id,
                **{name: getattr(event, name) for name in EDITABLE_FIELDS},
                "next_occurrence_at": event.next_occurrence_at,
                "version": event.originator_version,
                "at": event.timestamp,
            },
        )

    @apply.register
    def task_template_updated(self, event: TaskTemplate.Updated, session: ViewSession) -> None:
        columns = {k: v for k, v in event.changes.items() if k in EDITABLE_FIELDS}
        self._update(event, session, {**columns, "next_occurrence_at": event.next_occurrence_at})

    @apply.register
    def task_template_paused(self, event: TaskTemplate.Paused, session: ViewSession) -> None:
        self._update(event, session, {"paused": True, "next_occurrence_at": None})

    @apply.register
    def task_template_resumed(self, event: TaskTemplate.Resumed, session: ViewSession) -> None:
        columns = {"paused": False, "next_occurrence_at": event.next_occurrence_at}
        self._update(event, session, columns)

    @apply.register
    def task_template_deleted(self, event: TaskTemplate.Deleted, session: ViewSession) -> None:
        self._update(event, session, {"deleted": True, "next_occurrence_at": None})

    @apply.register
    def task_template_instance_created(
        self, event: TaskTemplate.InstanceCreated, session: ViewSession
    ) -> None:
        self._count(event, session, "instances_created")

    @apply.register
    def task_template_occurrence_skipped(
        self, event: TaskTemplate.OccurrenceSkipped, session: ViewSession
    ) -> None:
        self._count(event, session, "occurrences_skipped")

    def _update(
        self, event: TaskTemplate.Event, session: ViewSession, columns: dict[str, Any]
    ) -> None:
        self.view.update(
            session, event.originator_id, columns, event.originator_version, event.timestamp
        )

    def _count(
        self,
        event: TaskTemplate.InstanceCreated | TaskTemplate.OccurrenceSkipped,
        session: ViewSession,
        column: str,
    ) -> None:
        self.view.count_occurrence(
            session,
            event.originator_id,
            column,
            (event.occurrence_at, event.next_occurrence_at),
            event.originator_version,
            event.timestamp,
        )
