"""User profiles: one row per user (`GET /users/me`, and for analysts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from psycopg.sql import SQL

from aggregates.user import PROFILE_FIELDS, User
from projections.base import ReadModelProjection, ReadModelView, ViewSession

COLUMNS = (
    "id, email, name, avatar_url, timezone, tier, provider, version, created_at, updated_at,"
    " last_position"
)


class UserProfilesView(ReadModelView):
    projection_name: ClassVar[str] = "user_profiles"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        users = self.table("users")
        self.users_table = users
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id uuid PRIMARY KEY,"
                " email text NOT NULL,"
                " name text NOT NULL,"
                " avatar_url text,"
                " timezone text NOT NULL,"
                " tier text NOT NULL,"
                " provider text NOT NULL,"
                " version integer NOT NULL,"
                " created_at timestamptz NOT NULL,"
                " updated_at timestamptz NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(users)
        )
        self._insert = SQL(
            "INSERT INTO {} (id, email, name, timezone, tier, provider, version, created_at,"
            " updated_at, last_position) VALUES (%(id)s, %(email)s, %(name)s, 'UTC', 'free',"
            " %(provider)s, %(version)s, %(at)s, %(at)s, %(position)s)"
        ).format(users)
        self._get = SQL("SELECT {} FROM {} WHERE id = %s").format(SQL(COLUMNS), users)

    def insert(self, session: ViewSession, row: dict[str, Any]) -> None:
        session.execute(self._insert, {**row, "position": session.position})

    def update(
        self,
        session: ViewSession,
        user_id: UUID,
        changes: dict[str, Any],
        version: int,
        at: datetime,
    ) -> None:
        self.update_row(session, self.users_table, user_id, changes, version=version, at=at)

    def get_user(self, user_id: UUID, application_name: str) -> tuple[dict[str, Any] | None, int]:
        with self.snapshot() as cursor:
            row = cursor.execute(self._get, (user_id,)).fetchone()
            position = self.position_in(cursor, application_name)
        return row, position


class UserProfilesProjection(ReadModelProjection[UserProfilesView]):
    name = "user_profiles"

    @singledispatchmethod
    def apply(self, domain_event: Any, session: ViewSession) -> None:
        """Not a user event: nothing to show."""

    @apply.register
    def user_registered(self, event: User.Registered, session: ViewSession) -> None:
        self.view.insert(
            session,
            {
                "id": event.originator_id,
                "email": event.email,
                "name": event.name,
                "provider": event.provider,
                "version": event.originator_version,
                "at": event.timestamp,
            },
        )

    @apply.register
    def user_signed_in(self, event: User.SignedIn, session: ViewSession) -> None:
        self.view.update(
            session,
            event.originator_id,
            {"email": event.email},
            event.originator_version,
            event.timestamp,
        )

    @apply.register
    def user_profile_updated(self, event: User.ProfileUpdated, session: ViewSession) -> None:
        changes = {k: v for k, v in event.changes.items() if k in PROFILE_FIELDS}
        self.view.update(
            session, event.originator_id, changes, event.originator_version, event.timestamp
        )
