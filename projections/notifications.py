"""Notifications (`read.notifications`, `read.inboxes`): `GET /notifications` and /sync.

Read flags are events (`NotificationRead`, `AllRead`), so `read_at` is the time of the event
that read it and a rebuild gives back the very same rows. `read.inboxes` maps each user's
Inbox aggregate to the user (its later events name only the inbox) and keeps the unread count,
so a page can say how many are unread without counting them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from psycopg.sql import SQL, Identifier

from aggregates.inbox import Inbox
from projections.base import ReadModelProjection, ReadModelView, ViewSession
from projections.cursors import cut_page, decode_cursor

COLUMNS = "id, kind, title, body, created_at, read_at, position, last_position"
ORDER = "-position"
# No position is this high: the bound of a page that is not cut.
NO_BOUND = 2**63 - 1


@dataclass(frozen=True)
class NotificationPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    unread_count: int
    position: int


class NotificationsView(ReadModelView):
    projection_name: ClassVar[str] = "notifications"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inboxes, notifications = self.table("inboxes"), self.table("notifications")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id uuid PRIMARY KEY,"
                " user_id uuid NOT NULL UNIQUE,"
                " unread_count integer NOT NULL DEFAULT 0,"
                " last_position bigint NOT NULL)"
            ).format(inboxes)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " id uuid PRIMARY KEY,"
                " user_id uuid NOT NULL,"
                " kind text NOT NULL,"
                " title text NOT NULL,"
                " body text NOT NULL,"
                " created_at timestamptz NOT NULL,"
                " read_at timestamptz,"
                " position bigint NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(notifications)
        )
        for name, columns, where in (
            ("notifications_user_idx", "user_id, position", ""),
            ("notifications_unread_idx", "user_id, position", " WHERE read_at IS NULL"),
            ("notifications_changed_idx", "user_id, last_position", ""),
        ):
            self.sql_create_statements.append(
                SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}){}").format(
                    Identifier(name), notifications, SQL(columns), SQL(where)
                )
            )
        self._open = SQL("INSERT INTO {} (id, user_id, last_position) VALUES (%s, %s, %s)").format(
            inboxes
        )
        self._post = SQL(
            "WITH inbox AS (UPDATE {inboxes} SET unread_count = unread_count + 1,"
            " last_position = %(position)s WHERE id = %(inbox_id)s RETURNING user_id)"
            " INSERT INTO {notifications} (id, user_id, kind, title, body, created_at,"
            " position, last_position) SELECT %(id)s, user_id, %(kind)s, %(title)s, %(body)s,"
            " %(at)s, %(position)s, %(position)s FROM inbox"
        ).format(inboxes=inboxes, notifications=notifications)
        # Only unread ones change, and the count drops by exactly how many did.
        self._read = SQL(
            "WITH marked AS (UPDATE {notifications} SET read_at = %(at)s,"
            " last_position = %(position)s WHERE id = ANY(%(ids)s) AND read_at IS NULL"
            " RETURNING id)"
            " UPDATE {inboxes} SET unread_count = unread_count - (SELECT count(*) FROM marked),"
            " last_position = %(position)s WHERE id = %(inbox_id)s"
        ).format(inboxes=inboxes, notifications=notifications)
        listing = (
            "SELECT {columns} FROM {table} WHERE user_id = %(user_id)s {unread} {after}"
            " ORDER BY position DESC LIMIT %(limit)s"
        )
        filters = {None: "", True: "AND read_at IS NULL", False: "AND read_at IS NOT NULL"}
        self._pages = {
            (unread, paged): SQL(listing).format(
                columns=SQL(COLUMNS),
                table=notifications,
                unread=SQL(condition),
                after=SQL("AND position < %(after)s" if paged else ""),
            )
            for unread, condition in filters.items()
            for paged in (False, True)
        }
        self._unread_count = SQL("SELECT unread_count FROM {} WHERE user_id = %s").format(inboxes)
        # Changes after a position, oldest first, in whole positions: one `AllRead` changes
        # many rows at one position, and a page that split them would lose the rest.
        self._changed_since = SQL(
            "SELECT {columns} FROM {table} WHERE user_id = %(user_id)s"
            " AND last_position > %(since)s AND last_position <= COALESCE("
            "  (SELECT last_position FROM {table} WHERE user_id = %(user_id)s"
            "   AND last_position > %(since)s ORDER BY last_position OFFSET %(limit)s - 1 LIMIT 1),"
            "  %(no_bound)s)"
            " ORDER BY last_position, id"
        ).format(columns=SQL(COLUMNS), table=notifications)
        self._changed_after = SQL(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE user_id = %s AND last_position > %s)"
        ).format(notifications)

    # -- writes (inside a projection session) -------------------------------------------------

    def open(self, session: ViewSession, inbox_id: UUID, user_id: UUID) -> None:
        session.execute(self._open, (inbox_id, user_id, session.position))

    def post(self, session: ViewSession, inbox_id: UUID, row: dict[str, Any]) -> None:
        session.execute(self._post, {**row, "inbox_id": inbox_id, "position": session.position})

    def mark_read(self, session: ViewSession, event: Inbox.Event, ids: list[UUID]) -> None:
        session.execute(
            self._read,
            {
                "ids": ids,
                "inbox_id": event.originator_id,
                "at": event.timestamp,
                "position": session.position,
            },
        )

    # -- reads --------------------------------------------------------------------------------

    def page(
        self,
        user_id: UUID,
        application_name: str,
        *,
        unread: bool | None,
        cursor: str | None,
        limit: int,
    ) -> NotificationPage:
        """The user's notifications, newest first (only unread, or only read, if asked)."""
        params: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
        if cursor is not None:
            params["after"], _ = decode_cursor(ORDER, cursor, int)
        with self.snapshot() as snapshot:
            rows = snapshot.execute(self._pages[unread, cursor is not None], params).fetchall()
            counted = snapshot.execute(self._unread_count, (user_id,)).fetchone()
            position = self.position_in(snapshot, application_name)
        rows, next_cursor = cut_page(rows, limit, ORDER, "position", row_id=None)
        unread_count = counted["unread_count"] if counted else 0
        return NotificationPage(rows, next_cursor, unread_count, position)

    def changed_since(
        self, user_id: UUID, since: int, limit: int, application_name: str
    ) -> tuple[list[dict[str, Any]], bool, int]:
        """Notifications posted or read after `since`, oldest change first: about `limit` of
        them (more when the last position holds more), whether more follow, and the position."""
        params = {"user_id": user_id, "since": since, "limit": limit, "no_bound": NO_BOUND}
        with self.snapshot() as cursor:
            rows = cursor.execute(self._changed_since, params).fetchall()
            last = rows[-1]["last_position"] if rows else since
            more = cursor.execute(self._changed_after, (user_id, last)).fetchone()
            position = self.position_in(cursor, application_name)
        return rows, bool(more and more["exists"]), position


class NotificationsProjection(ReadModelProjection[NotificationsView]):
    name = "notifications"

    @singledispatchmethod
    def apply(self, domain_event: Any, session: ViewSession) -> None:
        """Only inboxes show here."""

    @apply.register
    def inbox_opened(self, event: Inbox.Opened, session: ViewSession) -> None:
        self.view.open(session, event.originator_id, event.user_id)

    @apply.register
    def inbox_notification_posted(
        self, event: Inbox.NotificationPosted, session: ViewSession
    ) -> None:
        self.view.post(
            session,
            event.originator_id,
            {
                "id": event.notification_id,
                "kind": event.kind,
                "title": event.title,
                "body": event.body,
                "at": event.timestamp,
            },
        )

    @apply.register
    def inbox_notification_read(self, event: Inbox.NotificationRead, session: ViewSession) -> None:
        self.view.mark_read(session, event, [event.notification_id])

    @apply.register
    def inbox_all_read(self, event: Inbox.AllRead, session: ViewSession) -> None:
        self.view.mark_read(session, event, list(event.notification_ids))
