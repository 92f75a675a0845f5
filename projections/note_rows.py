"""Note rows of the task list read model (`read.notes`), and `read.tasks.note_count`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from psycopg.sql import SQL, Composed, Identifier

from projections.base import ViewSession

if TYPE_CHECKING:
    from projections.task_list import TaskListView

NOTE_COLUMNS = "id, content, source, created_at, updated_at"
# The key of a task's note count waiting to be recounted (see ViewSession.execute_later).
COUNTS = "note_count"


class NoteRows:
    def __init__(self, view: TaskListView, tasks: Composed) -> None:
        notes = view.table("notes")
        view.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id uuid PRIMARY KEY,"
                " task_id uuid NOT NULL,"
                " content text NOT NULL,"
                " source text NOT NULL,"
                " created_at timestamptz NOT NULL,"
                " updated_at timestamptz NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(notes)
        )
        view.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (task_id, created_at)").format(
                Identifier("notes_task_idx"), notes
            )
        )
        self._add = SQL(
            "INSERT INTO {} (id, task_id, content, source, created_at, updated_at, last_position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
        ).format(notes)
        self._edit = SQL(
            "UPDATE {} SET content = %s, updated_at = %s, last_position = %s WHERE id = %s"
        ).format(notes)
        self._remove = SQL("DELETE FROM {} WHERE id = %s").format(notes)
        self._recount = SQL(
            "UPDATE {tasks} SET"
            " note_count = (SELECT count(*) FROM {n} WHERE task_id = %(task_id)s),"
            " version = %(version)s, updated_at = %(at)s, last_position = %(position)s"
            " WHERE id = %(task_id)s"
        ).format(tasks=tasks, n=notes)
        self._of_task = SQL("SELECT {} FROM {} WHERE task_id = %s ORDER BY created_at, id").format(
            SQL(NOTE_COLUMNS), notes
        )

    # A task's note rows are written beside its recount (ViewSession.execute_later): a run of
    # changes to the notes of one task is recounted once, after the last of them.

    def add(
        self,
        session: ViewSession,
        task_id: UUID,
        note_id: UUID,
        content: str,
        source: str,
        at: datetime,
    ) -> None:
        row = (note_id, task_id, content, source, at, at, session.position)
        session.execute_beside((COUNTS, task_id), self._add, row)

    def edit(
        self, session: ViewSession, task_id: UUID, note_id: UUID, content: str, at: datetime
    ) -> None:
        params = (content, at, session.position, note_id)
        session.execute_beside((COUNTS, task_id), self._edit, params)

    def remove(self, session: ViewSession, task_id: UUID, note_id: UUID) -> None:
        session.execute_beside((COUNTS, task_id), self._remove, (note_id,))

    def recount(self, session: ViewSession, task_id: UUID, version: int, at: datetime) -> None:
        params = {"task_id": task_id, "version": version, "at": at}
        session.execute_later(
            (COUNTS, task_id), self._recount, {**params, "position": session.position}
        )

    def of_task(self, cursor: Any, task_id: UUID) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = cursor.execute(self._of_task, (task_id,)).fetchall()
        return rows
