"""Achievements: each user's stats and perks (`read.achievement_stats`) and what they unlocked
(`read.achievement_unlocks`): `GET /achievements`, and the perks in every effective limit.

The stats follow the `Achievements` aggregate's own rules (a completion on the day after the
last one extends the streak, a later day starts a new one, an earlier day leaves it), in SQL so
each event is one statement. The current streak depends on today in the user's timezone, so
only its inputs are stored (`streak`, `last_completion_day`); the read API derives it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from psycopg.sql import SQL, Composed

from aggregates.achievements import BY_CODE, NO_PERK, Achievements
from projections.base import ReadModelProjection, ReadModelView, ViewSession

STATS_COLUMNS = (
    "user_id, completed_tasks, streak, best_streak, last_completion_day, focus_completions,"
    " unlocked_count, extra_active_tasks, extra_subtasks, extra_daily_credits, version,"
    " updated_at, last_position"
)
UNLOCK_COLUMNS = "code, name, unlocked_at, position"
PERK_COLUMNS = ("extra_active_tasks", "extra_subtasks", "extra_daily_credits")
# The streak after a completion on %(day)s; every SET expression sees the row before the update.
NEW_STREAK = (
    "CASE WHEN last_completion_day IS NULL THEN 1"
    " WHEN %(day)s::date <= last_completion_day THEN streak"
    " WHEN %(day)s::date - last_completion_day = 1 THEN streak + 1"
    " ELSE 1 END"
)


class AchievementsView(ReadModelView):
    projection_name: ClassVar[str] = "achievements"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stats, unlocks = self.table("achievement_stats"), self.table("achievement_unlocks")
        self.stats_table = stats
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " user_id uuid PRIMARY KEY,"
                " achievements_id uuid NOT NULL UNIQUE,"
                " completed_tasks integer NOT NULL DEFAULT 0,"
                " streak integer NOT NULL DEFAULT 0,"
                " best_streak integer NOT NULL DEFAULT 0,"
                " last_completion_day date,"
                " focus_completions integer NOT NULL DEFAULT 0,"
                " unlocked_count integer NOT NULL DEFAULT 0,"
                " extra_active_tasks integer NOT NULL DEFAULT 0,"
                " extra_subtasks integer NOT NULL DEFAULT 0,"
                " extra_daily_credits integer NOT NULL DEFAULT 0,"
                " version integer NOT NULL,"
                " updated_at timestamptz NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(stats)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " user_id uuid NOT NULL,"
                " code text NOT NULL,"
                " name text NOT NULL,"
                " unlocked_at timestamptz NOT NULL,"
                " position bigint NOT NULL,"
                " PRIMARY KEY (user_id, code))"
            ).format(unlocks)
        )
        self._start = SQL(
            "INSERT INTO {} (user_id, achievements_id, version, updated_at, last_position)"
            " VALUES (%s, %s, %s, %s, %s)"
        ).format(stats)
        self._count_task = self._update(
            "completed_tasks = completed_tasks + 1,"
            f" streak = {NEW_STREAK},"
            f" best_streak = GREATEST(best_streak, {NEW_STREAK}),"
            " last_completion_day = GREATEST(last_completion_day, %(day)s::date)"
        )
        # A reopened task stops counting; its day stays in the streak (as in the aggregate).
        self._uncount_task = self._update("completed_tasks = GREATEST(completed_tasks - 1, 0)")
        self._count_focus = self._update("focus_completions = focus_completions + 1")
        perks = ", ".join(f"{column} = {column} + %({column})s" for column in PERK_COLUMNS)
        self._unlock = SQL(
            "WITH owner AS ({update} RETURNING user_id)"
            " INSERT INTO {unlocks} (user_id, code, name, unlocked_at, position)"
            " SELECT user_id, %(code)s, %(name)s, %(unlocked_at)s, %(position)s FROM owner"
        ).format(
            update=self._update(f"unlocked_count = unlocked_count + 1, {perks}"), unlocks=unlocks
        )
        self._stats = SQL("SELECT {} FROM {} WHERE user_id = %s").format(SQL(STATS_COLUMNS), stats)
        self._unlocked = SQL("SELECT {} FROM {} WHERE user_id = %s ORDER BY position, code").format(
            SQL(UNLOCK_COLUMNS), unlocks
        )

    def _update(self, assignments: str) -> Composed:
        return SQL(
            "UPDATE {} SET {}, version = %(version)s, updated_at = %(at)s,"
            " last_position = %(position)s WHERE achievements_id = %(id)s"
        ).format(self.stats_table, SQL(assignments))

    # -- writes (inside a projection session) -------------------------------------------------

    def start(self, session: ViewSession, row: tuple[Any, ...]) -> None:
        session.execute(self._start, (*row, session.position))

    def count_task(self, session: ViewSession, event: Achievements.Event, day: str) -> None:
        self._apply(session, self._count_task, event, {"day": day})

    def uncount_task(self, session: ViewSession, event: Achievements.Event) -> None:
        self._apply(session, self._uncount_task, event, {})

    def count_focus(self, session: ViewSession, event: Achievements.Event) -> None:
        self._apply(session, self._count_focus, event, {})

    def unlock(self, session: ViewSession, event: Achievements.Unlocked) -> None:
        # Perks as the catalog defines them; a code it no longer knows adds nothing.
        definition = BY_CODE.get(event.code)
        perk = asdict(definition.perk if definition else NO_PERK)
        self._apply(
            session,
            self._unlock,
            event,
            {"code": event.code, "name": event.name, "unlocked_at": event.unlocked_at, **perk},
        )

    def _apply(
        self,
        session: ViewSession,
        statement: Composed,
        event: Achievements.Event,
        params: dict[str, Any],
    ) -> None:
        session.execute(
            statement,
            {
                **params,
                "id": event.originator_id,
                "version": event.originator_version,
                "at": event.timestamp,
                "position": session.position,
            },
        )

    # -- reads --------------------------------------------------------------------------------

    def achievements_of(
        self, user_id: UUID, application_name: str
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]], int]:
        """The user's stats (None: nothing counted yet), unlocks in order, and the position."""
        with self.snapshot() as cursor:
            stats = cursor.execute(self._stats, (user_id,)).fetchone()
            unlocked = cursor.execute(self._unlocked, (user_id,)).fetchall()
            position = self.position_in(cursor, application_name)
        return stats, unlocked, position


class AchievementsProjection(ReadModelProjection[AchievementsView]):
    name = "achievements"

    @singledispatchmethod
    def apply(self, domain_event: Any, session: ViewSession) -> None:
        """Only achievements show here."""

    @apply.register
    def achievements_started(self, event: Achievements.Started, session: ViewSession) -> None:
        self.view.start(
            session, (event.user_id, event.originator_id, event.originator_version, event.timestamp)
        )

    @apply.register
    def achievements_task_completion_counted(
        self, event: Achievements.TaskCompletionCounted, session: ViewSession
    ) -> None:
        self.view.count_task(session, event, event.day)

    @apply.register
    def achievements_task_completion_uncounted(
        self, event: Achievements.TaskCompletionUncounted, session: ViewSession
    ) -> None:
        self.view.uncount_task(session, event)

    @apply.register
    def achievements_focus_completion_counted(
        self, event: Achievements.FocusCompletionCounted, session: ViewSession
    ) -> None:
        self.view.count_focus(session, event)

    @apply.register
    def achievements_unlocked(self, event: Achievements.Unlocked, session: ViewSession) -> None:
        self.view.unlock(session, event)
