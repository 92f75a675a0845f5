"""A user's notifications: one Inbox per user, so reading them all is one event.

A notification's id is derived from its cause (`kind` + `key`: an achievement code, a billing
event id, a day ...), so posting the same cause twice posts it once.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError
from aggregates.ids import PERPETUA_NAMESPACE, singleton_id


class NotificationNotFoundError(DomainError):
    code = "NOT_FOUND"


def notification_id(user_id: UUID, kind: str, key: str) -> UUID:
    return uuid5(PERPETUA_NAMESPACE, f"notification:{user_id}:{kind}:{key}")


class Inbox(Aggregate):
    class Opened(Aggregate.Created):
        user_id: UUID

    class NotificationPosted(Aggregate.Event):
        notification_id: UUID
        kind: str
        title: str
        body: str

    class NotificationRead(Aggregate.Event):
        notification_id: UUID

    class AllRead(Aggregate.Event):
        notification_ids: list[UUID]

    @staticmethod
    def create_id(user_id: UUID) -> UUID:
        return singleton_id("inbox", user_id)

    @event(Opened)
    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        # notification id (hex) -> read? Hex keys: a snapshot's JSON needs string keys.
        self.notifications: dict[str, bool] = {}

    def post(self, *, kind: str, key: str, title: str, body: str) -> UUID | None:
        """Post a notification; None (no event) if this cause was already posted."""
        new_id = notification_id(self.user_id, kind, key)
        if new_id.hex in self.notifications:
            return None
        self._notification_posted(notification_id=new_id, kind=kind, title=title, body=body)
        return new_id

    @event(NotificationPosted)
    def _notification_posted(self, notification_id: UUID, kind: str, title: str, body: str) -> None:
        self.notifications[notification_id.hex] = False

    def mark_read(self, notification_id: UUID) -> bool:
        """False (no event) if it was read already."""
        read = self.notifications.get(notification_id.hex)
        if read is None:
            raise NotificationNotFoundError("notification not found")
        if read:
            return False
        self._notification_read(notification_id=notification_id)
        return True

    @event(NotificationRead)
    def _notification_read(self, notification_id: UUID) -> None:
        self.notifications[notification_id.hex] = True

    def mark_all_read(self) -> int:
        """Mark every unread notification read; returns how many (0: no event)."""
        unread = [UUID(hex=key) for key, read in self.notifications.items() if not read]
        if unread:
            self._all_read(notification_ids=unread)
        return len(unread)

    @event(AllRead)
    def _all_read(self, notification_ids: list[UUID]) -> None:
        for read_id in notification_ids:
            self.notifications[read_id.hex] = True

    @property
    def unread_count(self) -> int:
        return sum(not read for read in self.notifications.values())
