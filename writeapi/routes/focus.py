"""Focus sessions: start one on a task, end it; its time goes to the task."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from commands.messages import EndFocus, StartFocus
from infra.envelope import Envelope
from infra.errors import error_responses
from writeapi.deps import ActorDep, ApplicationDep
from writeapi.responses import with_position
from writeapi.schemas import FocusEnd, FocusSessionOut, FocusStart

router = APIRouter(prefix="/focus", tags=["focus"])


@router.post(
    "/start",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[FocusSessionOut],
    responses=error_responses("TASK_NOT_FOUND", "TASK_ARCHIVED", "FOCUS_ALREADY_ACTIVE"),
)
def start_focus(
    body: FocusStart, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[FocusSessionOut]:
    """Start a focus session on a task (one at a time)."""
    saved = application.start_focus(StartFocus(actor, body.task_id, body.planned_minutes))
    return Envelope(
        data=FocusSessionOut.model_validate(saved.aggregate.state()),
        meta=with_position(response, saved.position),
    )


@router.post(
    "/{session_id}/end",
    response_model=Envelope[FocusSessionOut],
    responses=error_responses("NOT_FOUND", "FOCUS_NOT_ACTIVE"),
)
def end_focus(
    session_id: UUID,
    body: FocusEnd,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
) -> Envelope[FocusSessionOut]:
    """End a focus session; `completed` says whether you finished what you planned."""
    saved = application.end_focus(EndFocus(actor, session_id, body.completed))
    return Envelope(
        data=FocusSessionOut.model_validate(saved.aggregate.state()),
        meta=with_position(response, saved.position),
    )
