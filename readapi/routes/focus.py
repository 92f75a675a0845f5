"""Your focus sessions, and the one running now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import ApiError, error_responses
from projections.cursors import InvalidCursorError
from readapi.deps import FocusSessionsDep, consistent_with
from readapi.responses import read_response
from readapi.schemas import FocusSessionOut

router = APIRouter(
    prefix="/focus", tags=["focus"], dependencies=[consistent_with("focus_sessions")]
)


@router.get(
    "/sessions",
    response_model=Envelope[list[FocusSessionOut]],
    responses=error_responses("VALIDATION_ERROR", "PROJECTION_LAGGING"),
)
async def list_sessions(
    request: Request,
    principal: CurrentPrincipal,
    view: FocusSessionsDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """Your focus sessions, most recent first."""
    try:
        rows, next_cursor, position = await run_in_threadpool(
            view.sessions, principal.user_id, EVENT_STORE_NAME, cursor=cursor, limit=limit
        )
    except InvalidCursorError as error:
        raise ApiError(
            "VALIDATION_ERROR", str(error), details={"fields": [{"loc": ["query", "cursor"]}]}
        ) from None
    payload = Envelope[list[FocusSessionOut]](
        data=[FocusSessionOut.model_validate(row) for row in rows],
        meta={"next_cursor": next_cursor, "limit": limit, "position": position},
    )
    return read_response(request, payload, position)


@router.get(
    "/active",
    response_model=Envelope[FocusSessionOut | None],
    responses=error_responses("PROJECTION_LAGGING"),
)
async def active_session(
    request: Request, principal: CurrentPrincipal, view: FocusSessionsDep
) -> Response:
    """The focus session running now, or null."""
    row, position = await run_in_threadpool(view.active, principal.user_id, EVENT_STORE_NAME)
    payload = Envelope[FocusSessionOut | None](
        data=FocusSessionOut.model_validate(row) if row else None, meta={"position": position}
    )
    return read_response(request, payload, position)
