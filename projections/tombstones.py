"""Tombstones: the deleted tasks a user can still restore (`GET /recovery`).

Table `read.tombstones`: a row appears with `Task.Deleted` and goes with `Task.Restored`.
Rows past `recoverable_until` stay (restoring them answers 410) but the query leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from psycopg.sql import SQL, Identifier

from aggregates.task import Task
from projections.base import ReadModelProjection, ReadModelView, ViewSession
from projections.cursors import cut_page, decode_cursor

ORDER = "-deleted_at"
COLUMNS = "task_id, title, deleted_at, recoverable_until"


@dataclass(frozen=True)
class TombstonePage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    position: int


class TombstonesView(ReadModelView):
    projection_name: ClassVar[str] = "tombstones"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = self.table("tombstones")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " task_id uuid PRIMARY KEY,"
                " owner_id uuid NOT NULL,"
                " title text NOT NULL,"
                " deleted_at timestamptz NOT NULL,"
                " recoverable_until timestamptz NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(table)
        )
        self.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (owner_id, deleted_at, task_id)").format(
                Identifier("tombstones_owner_idx"), table
            )
        )
        # A replayed batch never reaches here twice (tracking), so a plain INSERT is right.
        self._insert = SQL(
            "INSERT INTO {} (task_id, owner_id, title, deleted_at, recoverable_until,"
            " last_position) VALUES (%s, %s, %s, %s, %s, %s)"
        ).format(table)
        self._delete = SQL("DELETE FROM {} WHERE task_id = %s").format(table)
        listing = (
            "SELECT {columns} FROM {table} WHERE owner_id = %(owner_id)s"
            " AND recoverable_until > %(now)s {after}"
            " ORDER BY deleted_at DESC, task_id DESC LIMIT %(limit)s"
        )
        self._first_page = SQL(listing).format(columns=SQL(COLUMNS), table=table, after=SQL(""))
        self._next_page = SQL(listing).format(
            columns=SQL(COLUMNS),
            table=table,
            after=SQL("AND (deleted_at, task_id) < (%(after_key)s, %(after_id)s)"),
        )

    def insert(self, session: ViewSession, row: tuple[Any, ...]) -> None:
        session.execute(self._insert, (*row, session.position))

    def remove(self, session: ViewSession, task_id: UUID) -> None:
        session.execute(self._delete, (task_id,))

    def list_recoverable(
        self,
        owner_id: UUID,
        now: datetime,
        application_name: str,
        *,
        cursor: str | None = None,
        limit: int = 50,
    ) -> TombstonePage:
        params: dict[str, Any] = {"owner_id": owner_id, "now": now, "limit": limit + 1}
        statement = self._first_page
        if cursor is not None:
            params["after_key"], params["after_id"] = decode_cursor(ORDER, cursor, datetime)
            statement = self._next_page
        with self.snapshot() as snapshot:
            rows = snapshot.execute(statement, params).fetchall()
            position = self.position_in(snapshot, application_name)
        rows, next_cursor = cut_page(rows, limit, ORDER, "deleted_at", row_id="task_id")
        return TombstonePage(rows=rows, next_cursor=next_cursor, position=position)


class TombstonesProjection(ReadModelProjection[TombstonesView]):
    name = "tombstones"

    @singledispatchmethod
    def apply(self, domain_event: Any, session: ViewSession) -> None:
        """Only deletions and restorations matter here."""

    @apply.register
    def task_deleted(self, event: Task.Deleted, session: ViewSession) -> None:
        self.view.insert(
            session,
            (
                event.originator_id,
                event.owner_id,
                event.title,
                event.deleted_at,
                event.recoverable_until,
            ),
        )

    @apply.register
    def task_restored(self, event: Task.Restored, session: ViewSession) -> None:
        self.view.remove(session, event.originator_id)
