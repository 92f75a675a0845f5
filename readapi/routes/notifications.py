"""Your notifications."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import ApiError, error_responses
from projections.cursors import InvalidCursorError
from readapi.account import notification_out
from readapi.deps import NotificationsDep, consistent_with
from readapi.responses import read_response
from readapi.schemas import NotificationOut

router = APIRouter(
    prefix="/notifications",
    tags=["notifications"],
    dependencies=[consistent_with("notifications")],
)


@router.get(
    "",
    response_model=Envelope[list[NotificationOut]],
    responses=error_responses("VALIDATION_ERROR", "PROJECTION_LAGGING"),
)
async def list_notifications(
    request: Request,
    principal: CurrentPrincipal,
    view: NotificationsDep,
    unread: Annotated[
        bool | None, Query(description="true: only unread ones; false: only read ones.")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """Your notifications, newest first; `meta.unread_count` counts all unread ones."""
    try:
        page = await run_in_threadpool(
            view.page,
            principal.user_id,
            EVENT_STORE_NAME,
            unread=unread,
            cursor=cursor,
            limit=limit,
        )
    except InvalidCursorError as error:
        raise ApiError(
            "VALIDATION_ERROR", str(error), details={"fields": [{"loc": ["query", "cursor"]}]}
        ) from None
    payload = Envelope[list[NotificationOut]](
        data=[notification_out(row) for row in page.rows],
        meta={
            "next_cursor": page.next_cursor,
            "limit": limit,
            "unread_count": page.unread_count,
            "position": page.position,
        },
    )
    return read_response(request, payload, page.position)
