"""How a command's outcome becomes a response: the resource, its position, the header."""

from __future__ import annotations

from fastapi import Response

from aggregates.task import Task
from aggregates.template import TaskTemplate
from commands.base import Saved
from infra.envelope import Envelope
from writeapi.schemas import TaskOut, TemplateOut, TombstoneOut

POSITION_HEADER = "X-Event-Position"


def with_position(response: Response, position: int) -> dict[str, int]:
    """Sets `X-Event-Position` and returns the `meta` that carries the same number."""
    response.headers[POSITION_HEADER] = str(position)
    return {"position": position}


def task_out(task: Task) -> TaskOut:
    return TaskOut.model_validate(task.state())


def task_answer(saved: Saved[Task], response: Response) -> Envelope[TaskOut]:
    """The answer of a command that changed a task: the task, and the position."""
    return Envelope(data=task_out(saved.aggregate), meta=with_position(response, saved.position))


def template_answer(saved: Saved[TaskTemplate], response: Response) -> Envelope[TemplateOut]:
    """The answer of a command that changed a template: the template, and the position."""
    return Envelope(
        data=TemplateOut.model_validate(saved.aggregate.state()),
        meta=with_position(response, saved.position),
    )


def tombstone_out(task: Task) -> TombstoneOut:
    assert task.deleted_at is not None
    assert task.recoverable_until is not None
    return TombstoneOut(
        task_id=task.id,
        title=task.title,
        deleted_at=task.deleted_at,
        recoverable_until=task.recoverable_until,
    )
