"""Recovery of deleted tasks."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from commands.messages import RestoreTask
from infra.envelope import Envelope
from infra.errors import error_responses
from writeapi.deps import ActorDep, ApplicationDep
from writeapi.responses import task_answer
from writeapi.schemas import TaskOut

router = APIRouter(prefix="/recovery", tags=["recovery"])


@router.post(
    "/{task_id}/restore",
    response_model=Envelope[TaskOut],
    responses=error_responses(
        "TASK_NOT_FOUND", "NOT_FOUND", "TOMBSTONE_EXPIRED", "TASK_LIMIT_EXCEEDED"
    ),
)
def restore_task(
    task_id: UUID, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[TaskOut]:
    """Restore a deleted task: same id, same history (within the tombstone window)."""
    saved = application.restore_task(RestoreTask(actor, task_id))
    return task_answer(saved, response)
