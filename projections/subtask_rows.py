"""Subtask rows of the task list read model (`read.subtasks`), and the counts on `read.tasks`.

Kept apart from task_list.py for size only: the same view owns both tables and writes them in
the same transactions.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from psycopg.sql import SQL, Composed, Identifier

from projections.base import ViewSession

if TYPE_CHECKING:
    from projections.task_list import TaskListView

SUBTASK_COLUMNS = "id, title, completed, position"
# The key of a task's subtask counts waiting to be recounted (see ViewSession.execute_later).
COUNTS = "subtask_counts"


class SubtaskRows:
    def __init__(self, view: TaskListView, tasks: Composed) -> None:
        subtasks = view.table("subtasks")
        view.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id uuid PRIMARY KEY,"
                " task_id uuid NOT NULL,"
                " title text NOT NULL,"
                " completed boolean NOT NULL DEFAULT false,"
                " position integer NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(subtasks)
        )
        view.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (task_id, position)").format(
                Identifier("subtasks_task_idx"), subtasks
            )
        )
        self._add = SQL(
            "INSERT INTO {t} (id, task_id, title, position, last_position)"
            " SELECT %(id)s, %(task_id)s, %(title)s, count(*), %(position)s FROM {t}"
            " WHERE task_id = %(task_id)s"
        ).format(t=subtasks)
        self._set = {
            column: SQL("UPDATE {} SET {} = %s, last_position = %s WHERE id = %s").format(
                subtasks, Identifier(column)
            )
            for column in ("title", "completed")
        }
        self._remove = SQL("DELETE FROM {} WHERE id = %s RETURNING task_id, position").format(
            subtasks
        )
        self._close_gap = SQL(
            "UPDATE {} SET position = position - 1 WHERE task_id = %s AND position > %s"
        ).format(subtasks)
        self._reorder = SQL(
            "UPDATE {} AS s SET position = o.ordinality - 1, last_position = %s"
            " FROM unnest(%s::uuid[]) WITH ORDINALITY AS o(id, ordinality) WHERE s.id = o.id"
        ).format(subtasks)
        self._recount = SQL(
            "UPDATE {tasks} SET"
            " subtask_count = (SELECT count(*) FROM {s} WHERE task_id = %(task_id)s),"
            " subtasks_completed = (SELECT count(*) FROM {s}"
            "   WHERE task_id = %(task_id)s AND completed),"
            " version = %(version)s, updated_at = %(at)s, last_position = %(position)s"
            " WHERE id = %(task_id)s"
        ).format(tasks=tasks, s=subtasks)
        self._of_task = SQL("SELECT {} FROM {} WHERE task_id = %s ORDER BY position").format(
            SQL(SUBTASK_COLUMNS), subtasks
        )

    # A task's subtask rows are written beside its recount (ViewSession.execute_later): a run
    # of changes to the subtasks of one task is recounted once, after the last of them.

    def add(self, session: ViewSession, task_id: UUID, subtask_id: UUID, title: str) -> None:
        params = {"id": subtask_id, "task_id": task_id, "title": title}
        session.execute_beside(
            (COUNTS, task_id), self._add, {**params, "position": session.position}
        )

    def set(
        self, session: ViewSession, task_id: UUID, subtask_id: UUID, column: str, value: Any
    ) -> None:
        session.execute_beside(
            (COUNTS, task_id), self._set[column], (value, session.position, subtask_id)
        )

    def remove(self, session: ViewSession, subtask_id: UUID) -> None:
        removed = session.fetchone(self._remove, (subtask_id,))
        if removed is not None:
            session.execute(self._close_gap, (removed["task_id"], removed["position"]))

    def reorder(self, session: ViewSession, task_id: UUID, order: list[UUID]) -> None:
        session.execute_beside((COUNTS, task_id), self._reorder, (session.position, order))

    def recount(self, session: ViewSession, task_id: UUID, version: int, at: datetime) -> None:
        """The task's counts, version and update time after a change to its subtasks."""
        params = {"task_id": task_id, "version": version, "at": at}
        session.execute_later(
            (COUNTS, task_id), self._recount, {**params, "position": session.position}
        )

    def of_task(self, cursor: Any, task_id: UUID) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = cursor.execute(self._of_task, (task_id,)).fetchall()
        return rows
