"""Subscriptions (`read.subscriptions`): one row per user who ever started one.

Only what the tier is derived from is stored, never the tier itself: a user is pro while
`period_end` is ahead, so a cancelled or unrenewed subscription turns free by itself, at the
instant its period ends, without an event or a sweep (the read API compares with the clock).
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from psycopg.sql import SQL

from aggregates.subscription import Subscription
from projections.base import ReadModelProjection, ReadModelView, ViewSession

COLUMNS = (
    "id, user_id, period_end, cancel_at_period_end, activated_at, renewed_at, cancelled_at,"
    " reference, version, created_at, updated_at, last_position"
)


class SubscriptionsView(ReadModelView):
    projection_name: ClassVar[str] = "subscriptions"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = self.table("subscriptions")
        self.subscriptions_table = table
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id uuid PRIMARY KEY,"
                " user_id uuid NOT NULL UNIQUE,"
                " period_end timestamptz,"
                " cancel_at_period_end boolean NOT NULL DEFAULT false,"
                " activated_at timestamptz,"
                " renewed_at timestamptz,"
                " cancelled_at timestamptz,"
                " reference text,"
                " version integer NOT NULL,"
                " created_at timestamptz NOT NULL,"
                " updated_at timestamptz NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(table)
        )
        self._insert = SQL(
            "INSERT INTO {} (id, user_id, version, created_at, updated_at, last_position)"
            " VALUES (%(id)s, %(user_id)s, %(version)s, %(at)s, %(at)s, %(position)s)"
        ).format(table)
        self._get = SQL("SELECT {} FROM {} WHERE user_id = %s").format(SQL(COLUMNS), table)

    def insert(self, session: ViewSession, row: dict[str, Any]) -> None:
        session.execute(self._insert, {**row, "position": session.position})

    def update(
        self, session: ViewSession, event: Subscription.Event, changes: dict[str, Any]
    ) -> None:
        self.update_row(
            session,
            self.subscriptions_table,
            event.originator_id,
            changes,
            version=event.originator_version,
            at=event.timestamp,
        )

    def get_subscription(
        self, user_id: UUID, application_name: str
    ) -> tuple[dict[str, Any] | None, int]:
        """The user's subscription row (None: never subscribed), and the position it reflects."""
        with self.snapshot() as cursor:
            row = cursor.execute(self._get, (user_id,)).fetchone()
            position = self.position_in(cursor, application_name)
        return row, position


class SubscriptionsProjection(ReadModelProjection[SubscriptionsView]):
    name = "subscriptions"

    @singledispatchmethod
    def apply(self, domain_event: Any, session: ViewSession) -> None:
        """Only subscriptions show here."""

    @apply.register
    def subscription_started(self, event: Subscription.Started, session: ViewSession) -> None:
        self.view.insert(
            session,
            {
                "id": event.originator_id,
                "user_id": event.user_id,
                "version": event.originator_version,
                "at": event.timestamp,
            },
        )

    @apply.register
    def subscription_activated(self, event: Subscription.Activated, session: ViewSession) -> None:
        self.view.update(
            session,
            event,
            {
                "period_end": event.period_end,
                "cancel_at_period_end": False,
                "activated_at": event.timestamp,
                "cancelled_at": None,
                "reference": event.reference,
            },
        )

    @apply.register
    def subscription_renewed(self, event: Subscription.Renewed, session: ViewSession) -> None:
        self.view.update(
            session,
            event,
            {
                "period_end": event.period_end,
                "cancel_at_period_end": False,
                "renewed_at": event.timestamp,
                "cancelled_at": None,
                "reference": event.reference,
            },
        )

    @apply.register
    def subscription_cancelled(self, event: Subscription.Cancelled, session: ViewSession) -> None:
        self.view.update(
            session,
            event,
            {
                "cancel_at_period_end": True,
                "cancelled_at": event.timestamp,
                "reference": event.reference,
            },
        )
