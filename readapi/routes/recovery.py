"""Deleted tasks that can still be restored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import ApiError, error_responses
from projections.cursors import InvalidCursorError
from readapi.deps import TombstonesDep, consistent_with
from readapi.responses import read_response
from readapi.schemas import TombstoneOut

router = APIRouter(
    prefix="/recovery",
    tags=["recovery"],
    dependencies=[consistent_with("tombstones")],
)


@router.get(
    "",
    response_model=Envelope[list[TombstoneOut]],
    responses=error_responses("VALIDATION_ERROR", "PROJECTION_LAGGING"),
)
async def list_recoverable(
    request: Request,
    principal: CurrentPrincipal,
    view: TombstonesDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """Deleted tasks you can still restore, most recently deleted first."""
    try:
        page = await run_in_threadpool(
            view.list_recoverable,
            principal.user_id,
            datetime.now(tz=UTC),
            EVENT_STORE_NAME,
            cursor=cursor,
            limit=limit,
        )
    except InvalidCursorError as error:
        raise ApiError(
            "VALIDATION_ERROR", str(error), details={"fields": [{"loc": ["query", "cursor"]}]}
        ) from None
    payload = Envelope[list[TombstoneOut]](
        data=[TombstoneOut.model_validate(row) for row in page.rows],
        meta={"next_cursor": page.next_cursor, "limit": limit, "position": page.position},
    )
    return read_response(request, payload, page.position)
