"""Subtask commands. Each answers with the whole task, whose version and state they change
(completing the last open subtask completes the task); adding one answers 201 with it."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from fastapi import APIRouter, Response, status

from aggregates.task import Task
from commands.application import PerpetuaApplication
from commands.base import Saved
from commands.messages import (
    Actor,
    AddSubtask,
    CompleteSubtask,
    RemoveSubtask,
    RenameSubtask,
    ReopenSubtask,
    ReorderSubtasks,
)
from infra.envelope import Envelope
from infra.errors import error_responses
from writeapi.deps import ActorDep, ApplicationDep
from writeapi.responses import task_answer, with_position
from writeapi.schemas import SubtaskCreate, SubtaskOrder, SubtaskOut, SubtaskPatch, TaskOut

router = APIRouter(prefix="/tasks/{task_id}/subtasks", tags=["subtasks"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[SubtaskOut],
    responses=error_responses(
        "TASK_NOT_FOUND", "TASK_ARCHIVED", "SUBTASK_LIMIT_EXCEEDED", "TASK_LIMIT_EXCEEDED"
    ),
)
def add_subtask(
    task_id: UUID,
    body: SubtaskCreate,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
) -> Envelope[SubtaskOut]:
    """Add a subtask at the end (a completed task is reopened by it)."""
    saved, subtask_id = application.add_subtask(AddSubtask(actor, task_id, body.title))
    subtask = next(s for s in saved.aggregate.state()["subtasks"] if s["id"] == subtask_id)
    return Envelope(
        data=SubtaskOut.model_validate(subtask), meta=with_position(response, saved.position)
    )


@router.patch(
    "/{subtask_id}",
    response_model=Envelope[TaskOut],
    responses=error_responses("TASK_NOT_FOUND", "NOT_FOUND", "TASK_ARCHIVED"),
)
def rename_subtask(
    task_id: UUID,
    subtask_id: UUID,
    body: SubtaskPatch,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
) -> Envelope[TaskOut]:
    """Rename a subtask."""
    saved = application.rename_subtask(RenameSubtask(actor, task_id, subtask_id, body.title))
    return task_answer(saved, response)


@router.put(
    "/order",
    response_model=Envelope[TaskOut],
    responses=error_responses("TASK_NOT_FOUND", "TASK_ARCHIVED", "VALIDATION_ERROR"),
)
def reorder_subtasks(
    task_id: UUID,
    body: SubtaskOrder,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
) -> Envelope[TaskOut]:
    """Put the subtasks in this order (it must name every one exactly once)."""
    saved = application.reorder_subtasks(ReorderSubtasks(actor, task_id, body.subtask_ids))
    return task_answer(saved, response)


@router.delete(
    "/{subtask_id}",
    response_model=Envelope[TaskOut],
    responses=error_responses("TASK_NOT_FOUND", "NOT_FOUND", "TASK_ARCHIVED"),
)
def remove_subtask(
    task_id: UUID,
    subtask_id: UUID,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
) -> Envelope[TaskOut]:
    """Remove a subtask."""
    saved = application.remove_subtask(RemoveSubtask(actor, task_id, subtask_id))
    return task_answer(saved, response)


def _subtask_action(
    action: str,
    summary: str,
    run: Callable[[PerpetuaApplication, Actor, UUID, UUID], Saved[Task]],
    *codes: str,
) -> None:
    """Register `POST .../subtasks/{subtask_id}/<action>`, answered with the task."""

    def endpoint(
        task_id: UUID,
        subtask_id: UUID,
        actor: ActorDep,
        application: ApplicationDep,
        response: Response,
    ) -> Envelope[TaskOut]:
        return task_answer(run(application, actor, task_id, subtask_id), response)

    router.add_api_route(
        f"/{{subtask_id}}/{action}",
        endpoint,
        methods=["POST"],
        name=f"{action}_subtask",
        summary=summary,
        response_model=Envelope[TaskOut],
        responses=error_responses("TASK_NOT_FOUND", "NOT_FOUND", "TASK_ARCHIVED", *codes),
    )


_subtask_action(
    "complete",
    "Complete a subtask (the last open one completes the task).",
    lambda app, actor, task_id, sid: app.complete_subtask(CompleteSubtask(actor, task_id, sid)),
)
_subtask_action(
    "reopen",
    "Reopen a subtask (a completed task is reopened with it).",
    lambda app, actor, task_id, sid: app.reopen_subtask(ReopenSubtask(actor, task_id, sid)),
    "TASK_LIMIT_EXCEEDED",
)
