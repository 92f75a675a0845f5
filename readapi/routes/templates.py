"""Your recurring templates, and when each one will next make a task."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import ApiError, error_responses
from infra.recurrence import Recurrence
from projections.cursors import InvalidCursorError
from readapi.deps import TemplatesDep, consistent_with
from readapi.responses import read_response
from readapi.schemas import TemplateDetailOut, TemplateOut

router = APIRouter(
    prefix="/templates", tags=["templates"], dependencies=[consistent_with("templates")]
)

# How many upcoming occurrences one template's answer lists.
UPCOMING = 5


@router.get(
    "",
    response_model=Envelope[list[TemplateOut]],
    responses=error_responses("VALIDATION_ERROR", "PROJECTION_LAGGING"),
)
async def list_templates(
    request: Request,
    principal: CurrentPrincipal,
    view: TemplatesDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """Your templates, newest first."""
    try:
        rows, next_cursor, position = await run_in_threadpool(
            view.templates, principal.user_id, EVENT_STORE_NAME, cursor=cursor, limit=limit
        )
    except InvalidCursorError as error:
        raise ApiError(
            "VALIDATION_ERROR", str(error), details={"fields": [{"loc": ["query", "cursor"]}]}
        ) from None
    payload = Envelope[list[TemplateOut]](
        data=[TemplateOut.model_validate(_localized(row)) for row in rows],
        meta={"next_cursor": next_cursor, "limit": limit, "position": position},
    )
    return read_response(request, payload, position)


@router.get(
    "/{template_id}",
    response_model=Envelope[TemplateDetailOut],
    responses=error_responses("TEMPLATE_NOT_FOUND", "VALIDATION_ERROR", "PROJECTION_LAGGING"),
)
async def get_template(
    request: Request, template_id: UUID, principal: CurrentPrincipal, view: TemplatesDep
) -> Response:
    """One template, with its next occurrences (empty while paused)."""
    row, position = await run_in_threadpool(
        view.get_template, principal.user_id, template_id, EVENT_STORE_NAME
    )
    if row is None:
        raise ApiError(
            "TEMPLATE_NOT_FOUND",
            "template not found",
            headers={"X-Projection-Position": str(position)},
        )
    upcoming = await run_in_threadpool(_upcoming, row)
    payload = Envelope[TemplateDetailOut](
        data=TemplateDetailOut.model_validate({**_localized(row), "next_occurrences": upcoming}),
        meta={"position": position},
    )
    return read_response(request, payload, position)


def _localized(row: dict[str, Any]) -> dict[str, Any]:
    """The start is kept as a wall time in the template's zone; shown with its offset."""
    return {**row, "starts_at": row["starts_at"].replace(tzinfo=ZoneInfo(row["timezone"]))}


def _upcoming(row: dict[str, Any]) -> list[Any]:
    first = row["next_occurrence_at"]
    if first is None:
        return []
    schedule = Recurrence.parse(row["rrule"], row["timezone"], row["starts_at"])
    return [first, *schedule.upcoming(first, UPCOMING - 1)]
