"""Focus sessions (`read.focus_sessions`): `GET /focus/sessions` and `GET /focus/active`."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from psycopg.sql import SQL, Identifier

from aggregates.focus import FocusSession
from projections.base import ReadModelProjection, ReadModelView, ViewSession
from projections.cursors import cut_page, decode_cursor

COLUMNS = (
    "id, task_id, planned_minutes, started_at, ended_at, elapsed_seconds, completed,"
    " counts_as_completion"
)
ORDER = "-position"


class FocusSessionsView(ReadModelView):
    projection_name: ClassVar[str] = "focus_sessions"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = self.table("focus_sessions")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id uuid PRIMARY KEY,"
                " user_id uuid NOT NULL,"
                " task_id uuid NOT NULL,"
                " planned_minutes integer NOT NULL,"
                " started_at timestamptz NOT NULL,"
                " ended_at timestamptz,"
                " elapsed_seconds integer NOT NULL DEFAULT 0,"
                " completed boolean NOT NULL DEFAULT false,"
                " counts_as_completion boolean NOT NULL DEFAULT false,"
                " started_position bigint NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(table)
        )
        self.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (user_id, started_position)").format(
                Identifier("focus_sessions_user_idx"), table
            )
        )
        self._start = SQL(
            "INSERT INTO {} (id, user_id, task_id, planned_minutes, started_at, started_position,"
            " last_position) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        ).format(table)
        self._end = SQL(
            "UPDATE {} SET ended_at = %s, elapsed_seconds = %s, completed = %s,"
            " counts_as_completion = %s, last_position = %s WHERE id = %s"
        ).format(table)
        listing = (
            "SELECT {columns}, started_position FROM {table} WHERE user_id = %(user_id)s {more}"
            " ORDER BY started_position DESC LIMIT %(limit)s"
        )
        self._first_page = SQL(listing).format(columns=SQL(COLUMNS), table=table, more=SQL(""))
        self._next_page = SQL(listing).format(
            columns=SQL(COLUMNS), table=table, more=SQL("AND started_position < %(after)s")
        )
        self._active = SQL("SELECT {} FROM {} WHERE user_id = %s AND ended_at IS NULL").format(
            SQL(COLUMNS), table
        )

    def start(self, session: ViewSession, row: tuple[Any, ...]) -> None:
        session.execute(self._start, (*row, session.position, session.position))

    def end(self, session: ViewSession, session_id: UUID, row: tuple[Any, ...]) -> None:
        session.execute(self._end, (*row, session.position, session_id))

    def sessions(
        self, user_id: UUID, application_name: str, *, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None, int]:
        params: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
        statement = self._first_page
        if cursor is not None:
            params["after"], _ = decode_cursor(ORDER, cursor, int)
            statement = self._next_page
        with self.snapshot() as snapshot:
            rows = snapshot.execute(statement, params).fetchall()
            position = self.position_in(snapshot, application_name)
        rows, next_cursor = cut_page(rows, limit, ORDER, "started_position")
        return rows, next_cursor, position

    def active(self, user_id: UUID, application_name: str) -> tuple[dict[str, Any] | None, int]:
        with self.snapshot() as snapshot:
            row = snapshot.execute(self._active, (user_id,)).fetchone()
            position = self.position_in(snapshot, application_name)
        return row, position


class FocusSessionsProjection(ReadModelProjection[FocusSessionsView]):
    name = "focus_sessions"

    @singledispatchmethod
    def apply(self, domain_event: Any, session: ViewSession) -> None:
        """Only focus sessions show here."""

    @apply.register
    def focus_session_started(self, event: FocusSession.Started, session: ViewSession) -> None:
        self.view.start(
            session,
            (
                event.originator_id,
                event.user_id,
                event.task_id,
                event.planned_minutes,
                event.started_at,
            ),
        )

    @apply.register
    def focus_session_ended(self, event: FocusSession.Ended, session: ViewSession) -> None:
        self.view.end(
            session,
            event.originator_id,
            (event.ended_at, event.elapsed_seconds, event.completed, event.counts_as_completion),
        )
