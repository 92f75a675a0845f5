"""Reminder rows of the task list read model (`read.reminders`), `read.tasks.reminder_count`,
and the scheduler's view of them: the pending reminders whose time has come."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from psycopg.sql import SQL, Composed, Identifier

from projections.base import ViewSession

if TYPE_CHECKING:
    from projections.task_list import TaskListView

REMINDER_COLUMNS = "id, remind_at, offset_minutes, fires_at, status, fired_at, late"
# The key of a task's reminder count waiting to be recounted (see ViewSession.execute_later).
COUNTS = "reminder_count"


@dataclass(frozen=True)
class DueReminder:
    task_id: UUID
    reminder_id: UUID
    fires_at: datetime


class ReminderRows:
    def __init__(self, view: TaskListView, tasks: Composed) -> None:
        reminders = view.table("reminders")
        view.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id uuid PRIMARY KEY,"
                " task_id uuid NOT NULL,"
                " remind_at timestamptz,"
                " offset_minutes integer,"
                " fires_at timestamptz NOT NULL,"
                " status text NOT NULL DEFAULT 'pending',"
                " fired_at timestamptz,"
                " late boolean NOT NULL DEFAULT false,"
                " created_at timestamptz NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(reminders)
        )
        view.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (task_id, fires_at)").format(
                Identifier("reminders_task_idx"), reminders
            )
        )
        # The scheduler's question, asked every few seconds: only pending rows are indexed.
        view.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (fires_at) WHERE status = 'pending'").format(
                Identifier("reminders_pending_idx"), reminders
            )
        )
        self._add = SQL(
            "INSERT INTO {} (id, task_id, remind_at, offset_minutes, fires_at, created_at,"
            " last_position) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        ).format(reminders)
        self._set_time = SQL(
            "UPDATE {} SET remind_at = %s, offset_minutes = %s, fires_at = %s, last_position = %s"
            " WHERE id = %s"
        ).format(reminders)
        self._move = SQL("UPDATE {} SET fires_at = %s, last_position = %s WHERE id = %s").format(
            reminders
        )
        self._close = SQL(
            "UPDATE {} SET status = %s, fired_at = %s, late = %s, last_position = %s WHERE id = %s"
        ).format(reminders)
        self._remove = SQL("DELETE FROM {} WHERE id = %s").format(reminders)
        self._recount = SQL(
            "UPDATE {tasks} SET"
            " reminder_count = (SELECT count(*) FROM {r} WHERE task_id = %(task_id)s),"
            " version = %(version)s, updated_at = %(at)s, last_position = %(position)s"
            " WHERE id = %(task_id)s"
        ).format(tasks=tasks, r=reminders)
        self._of_task = SQL("SELECT {} FROM {} WHERE task_id = %s ORDER BY fires_at, id").format(
            SQL(REMINDER_COLUMNS), reminders
        )
        self._due = SQL(
            "SELECT task_id, id AS reminder_id, fires_at FROM {} WHERE status = 'pending'"
            " AND fires_at <= %s ORDER BY fires_at, id LIMIT %s"
        ).format(reminders)

    def add(
        self,
        session: ViewSession,
        task_id: UUID,
        reminder_id: UUID,
        time: tuple[datetime | None, int | None, datetime],
        at: datetime,
    ) -> None:
        """`time` is (remind_at, offset_minutes, fires_at)."""
        row = (reminder_id, task_id, *time, at, session.position)
        session.execute_beside((COUNTS, task_id), self._add, row)

    # A task's reminder rows are written beside its recount (ViewSession.execute_later): a run
    # of changes to the reminders of one task is recounted once, after the last of them.

    def set_time(
        self,
        session: ViewSession,
        task_id: UUID,
        reminder_id: UUID,
        time: tuple[datetime | None, int | None, datetime],
    ) -> None:
        params = (*time, session.position, reminder_id)
        session.execute_beside((COUNTS, task_id), self._set_time, params)

    def move(
        self, session: ViewSession, task_id: UUID, reminder_id: UUID, fires_at: datetime
    ) -> None:
        params = (fires_at, session.position, reminder_id)
        session.execute_beside((COUNTS, task_id), self._move, params)

    def close(
        self,
        session: ViewSession,
        task_id: UUID,
        reminder_id: UUID,
        status: str,
        fired_at: datetime | None = None,
        late: bool = False,
    ) -> None:
        params = (status, fired_at, late, session.position, reminder_id)
        session.execute_beside((COUNTS, task_id), self._close, params)

    def remove(self, session: ViewSession, task_id: UUID, reminder_id: UUID) -> None:
        session.execute_beside((COUNTS, task_id), self._remove, (reminder_id,))

    def recount(self, session: ViewSession, task_id: UUID, version: int, at: datetime) -> None:
        params = {"task_id": task_id, "version": version, "at": at}
        session.execute_later(
            (COUNTS, task_id), self._recount, {**params, "position": session.position}
        )

    def of_task(self, cursor: Any, task_id: UUID) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = cursor.execute(self._of_task, (task_id,)).fetchall()
        return rows

    def due(self, cursor: Any, now: datetime, limit: int) -> list[DueReminder]:
        rows = cursor.execute(self._due, (now, limit)).fetchall()
        return [DueReminder(**row) for row in rows]
