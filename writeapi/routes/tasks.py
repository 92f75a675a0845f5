"""Task commands."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from commands.messages import CompleteTask, CreateTask, ReopenTask, UpdateTask
from infra.envelope import Envelope
from infra.errors import error_responses
from writeapi.deps import ActorDep, ApplicationDep
from writeapi.responses import task_out, with_position
from writeapi.schemas import TaskCreate, TaskOut, TaskPatch

router = APIRouter(prefix="/tasks", tags=["tasks"])

NOT_FOUND = error_responses("TASK_NOT_FOUND")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[TaskOut],
    responses=error_responses(
        "VALIDATION_ERROR", "DESCRIPTION_TOO_LONG", "DUE_DATE_TOO_FAR", "TASK_LIMIT_EXCEEDED"
    ),
)
def create_task(
    body: TaskCreate, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[TaskOut]:
    """Create a task."""
    saved = application.create_task(CreateTask(actor=actor, **body.model_dump()))
    return Envelope(data=task_out(saved.aggregate), meta=with_position(response, saved.position))


@router.patch(
    "/{task_id}",
    response_model=Envelope[TaskOut],
    responses=error_responses(
        "TASK_NOT_FOUND",
        "VERSION_CONFLICT",
        "TASK_ARCHIVED",
        "VALIDATION_ERROR",
        "DESCRIPTION_TOO_LONG",
        "DUE_DATE_TOO_FAR",
    ),
)
def update_task(
    task_id: UUID,
    body: TaskPatch,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
) -> Envelope[TaskOut]:
    """Change a task's fields, given the version you last read."""
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    saved = application.update_task(
        UpdateTask(actor=actor, task_id=task_id, version=body.version, changes=changes)
    )
    return Envelope(data=task_out(saved.aggregate), meta=with_position(response, saved.position))


@router.post(
    "/{task_id}/complete",
    response_model=Envelope[TaskOut],
    responses=error_responses("TASK_NOT_FOUND", "TASK_ARCHIVED", "TASK_ALREADY_COMPLETED"),
)
def complete_task(
    task_id: UUID, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[TaskOut]:
    """Mark a task completed."""
    saved = application.complete_task(CompleteTask(actor=actor, task_id=task_id))
    return Envelope(data=task_out(saved.aggregate), meta=with_position(response, saved.position))


@router.post(
    "/{task_id}/reopen",
    response_model=Envelope[TaskOut],
    responses=error_responses(
        "TASK_NOT_FOUND", "TASK_ARCHIVED", "TASK_NOT_COMPLETED", "TASK_LIMIT_EXCEEDED"
    ),
)
def reopen_task(
    task_id: UUID, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[TaskOut]:
    """Reopen a completed task."""
    saved = application.reopen_task(ReopenTask(actor=actor, task_id=task_id))
    return Envelope(data=task_out(saved.aggregate), meta=with_position(response, saved.position))
