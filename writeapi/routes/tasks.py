"""Task commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from aggregates.task import Task
from commands.application import PerpetuaApplication
from commands.base import Saved
from commands.messages import (
    Actor,
    ArchiveTask,
    CompleteTask,
    CreateTask,
    DeleteTask,
    HideTask,
    ReopenTask,
    UnarchiveTask,
    UnhideTask,
    UpdateTask,
)
from infra.envelope import Envelope
from infra.errors import error_responses
from writeapi.deps import ActorDep, ApplicationDep
from writeapi.responses import task_answer, tombstone_out, with_position
from writeapi.schemas import TaskCreate, TaskOut, TaskPatch, TombstoneOut

router = APIRouter(prefix="/tasks", tags=["tasks"])


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
    return task_answer(saved, response)


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
    return task_answer(saved, response)


def _task_action(
    action: str,
    summary: str,
    run: Callable[[PerpetuaApplication, Actor, UUID], Saved[Task]],
    *codes: str,
) -> None:
    """Register `POST /tasks/{task_id}/<action>`: a body-less command answered with the task."""

    def endpoint(
        task_id: UUID, actor: ActorDep, application: ApplicationDep, response: Response
    ) -> Envelope[TaskOut]:
        saved = run(application, actor, task_id)
        return task_answer(saved, response)

    router.add_api_route(
        f"/{{task_id}}/{action}",
        endpoint,
        methods=["POST"],
        name=f"{action}_task",
        summary=summary,
        response_model=Envelope[TaskOut],
        responses=error_responses("TASK_NOT_FOUND", *codes),
    )


_task_action(
    "reopen",
    "Reopen a completed task.",
    lambda app, actor, task_id: app.reopen_task(ReopenTask(actor, task_id)),
    "TASK_ARCHIVED",
    "TASK_NOT_COMPLETED",
    "TASK_LIMIT_EXCEEDED",
)
_task_action(
    "hide",
    "Hide a task from the default list.",
    lambda app, actor, task_id: app.hide_task(HideTask(actor, task_id)),
    "TASK_ARCHIVED",
)
_task_action(
    "unhide",
    "Show a hidden task in the default list again.",
    lambda app, actor, task_id: app.unhide_task(UnhideTask(actor, task_id)),
    "TASK_ARCHIVED",
)
_task_action(
    "archive",
    "Archive a task: read-only, out of the default list, not counted as active.",
    lambda app, actor, task_id: app.archive_task(ArchiveTask(actor, task_id)),
)
_task_action(
    "unarchive",
    "Bring an archived task back.",
    lambda app, actor, task_id: app.unarchive_task(UnarchiveTask(actor, task_id)),
    "TASK_LIMIT_EXCEEDED",
)


@router.post(
    "/{task_id}/complete",
    response_model=Envelope[TaskOut],
    responses=error_responses(
        "TASK_NOT_FOUND", "TASK_ARCHIVED", "TASK_ALREADY_COMPLETED", "SUBTASKS_INCOMPLETE"
    ),
)
def complete_task(
    task_id: UUID,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
    force: Annotated[bool, Query(description="Also complete its open subtasks.")] = False,
) -> Envelope[TaskOut]:
    """Mark a task completed (with open subtasks only when forced)."""
    saved = application.complete_task(CompleteTask(actor, task_id, force=force))
    return task_answer(saved, response)


@router.delete(
    "/{task_id}",
    response_model=Envelope[TombstoneOut],
    responses=error_responses("TASK_NOT_FOUND"),
)
def delete_task(
    task_id: UUID, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[TombstoneOut]:
    """Delete a task; it can be restored until `recoverable_until`."""
    saved = application.delete_task(DeleteTask(actor, task_id))
    return Envelope(
        data=tombstone_out(saved.aggregate), meta=with_position(response, saved.position)
    )
