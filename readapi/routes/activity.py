"""The user's activity log, page by page or exported whole."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import ApiError, error_responses
from projections.activity import ActivityQuery, export_lines
from projections.cursors import InvalidCursorError
from readapi.deps import ActivityDep, consistent_with
from readapi.responses import read_response
from readapi.schemas import ActivityOut

router = APIRouter(
    prefix="/activity", tags=["activity"], dependencies=[consistent_with("activity")]
)


@router.get(
    "",
    response_model=Envelope[list[ActivityOut]],
    responses=error_responses("VALIDATION_ERROR", "PROJECTION_LAGGING"),
)
async def list_activity(
    request: Request,
    principal: CurrentPrincipal,
    view: ActivityDep,
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: UUID | None = None,
    occurred_from: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    occurred_to: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    order: Literal["asc", "desc"] = "desc",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """Everything that happened to your data: one entry per event, `desc` (newest) first."""
    query = ActivityQuery(
        user_id=principal.user_id,
        entity_type=entity_type,
        entity_id=entity_id,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        newest_first=order == "desc",
        cursor=cursor,
        limit=limit,
    )
    try:
        page = await run_in_threadpool(view.page, query, EVENT_STORE_NAME)
    except InvalidCursorError as error:
        raise ApiError(
            "VALIDATION_ERROR", str(error), details={"fields": [{"loc": ["query", "cursor"]}]}
        ) from None
    payload = Envelope[list[ActivityOut]](
        data=[ActivityOut.model_validate(row) for row in page.rows],
        meta={"next_cursor": page.next_cursor, "limit": limit, "position": page.position},
    )
    return read_response(request, payload, page.position)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One row per line: JSON lines (`format=jsonl`) or CSV with a header.",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **error_responses("VALIDATION_ERROR", "PROJECTION_LAGGING"),
    },
)
async def export_activity(
    principal: CurrentPrincipal,
    view: ActivityDep,
    format: Literal["jsonl", "csv"] = "jsonl",
) -> StreamingResponse:
    """Your whole activity log, oldest first, streamed as JSON lines or CSV."""
    lines = export_lines(view, principal.user_id, format)
    media_type = "application/x-ndjson" if format == "jsonl" else "text/csv"
    filename = f"activity.{format}"
    return StreamingResponse(
        iterate_in_threadpool(lines),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
