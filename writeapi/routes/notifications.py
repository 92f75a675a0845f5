"""Notifications: mark one, or all, read (an event each, so a rebuild keeps the flags)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from commands.messages import MarkAllNotificationsRead, MarkNotificationRead
from infra.envelope import Envelope
from infra.errors import error_responses
from writeapi.deps import ActorDep, ApplicationDep
from writeapi.responses import with_position
from writeapi.schemas import NotificationReadOut, NotificationsReadOut

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.post(
    "/read-all",
    response_model=Envelope[NotificationsReadOut],
)
def mark_all_read(
    actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[NotificationsReadOut]:
    """Mark every unread notification read."""
    marked, position = application.mark_all_notifications_read(MarkAllNotificationsRead(actor))
    return Envelope(
        data=NotificationsReadOut(marked_read=marked), meta=with_position(response, position)
    )


@router.post(
    "/{notification_id}/read",
    response_model=Envelope[NotificationReadOut],
    responses=error_responses("NOT_FOUND"),
)
def mark_read(
    notification_id: UUID, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[NotificationReadOut]:
    """Mark one notification read (again is fine)."""
    position = application.mark_notification_read(MarkNotificationRead(actor, notification_id))
    return Envelope(
        data=NotificationReadOut(id=notification_id, read=True),
        meta=with_position(response, position),
    )
