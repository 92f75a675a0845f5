"""Notifications: reading them is an event too, so a rebuild brings back the read flags."""

from __future__ import annotations

from aggregates.inbox import Inbox
from commands.base import CommandHandlers
from commands.messages import MarkAllNotificationsRead, MarkNotificationRead


class NotificationCommands(CommandHandlers):
    def mark_notification_read(self, command: MarkNotificationRead) -> int:
        """Returns the position (the head if it was read already)."""

        def attempt() -> int:
            inbox = self._singleton(Inbox, command.actor.user_id)
            if not inbox.mark_read(command.notification_id):
                return self._head_position()
            return self._save(inbox)

        return self._retry_on_conflict(attempt, user_id=command.actor.user_id)

    def mark_all_notifications_read(self, command: MarkAllNotificationsRead) -> tuple[int, int]:
        """Returns (how many were marked read, position)."""

        def attempt() -> tuple[int, int]:
            inbox = self._singleton(Inbox, command.actor.user_id)
            marked = inbox.mark_all_read()
            return marked, self._save(inbox) if marked else self._head_position()

        return self._retry_on_conflict(attempt, user_id=command.actor.user_id)
