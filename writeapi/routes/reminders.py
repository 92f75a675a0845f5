"""Reminder commands. Adding answers 201 with the reminder; changing and removing, with the
task. The scheduler fires them (projectors/scheduler.py); nothing here does."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from commands.messages import AddReminder, ChangeReminder, RemoveReminder
from infra.envelope import Envelope
from infra.errors import error_responses
from writeapi.deps import ActorDep, ApplicationDep
from writeapi.responses import task_answer, with_position
from writeapi.schemas import ReminderBody, ReminderOut, TaskOut

router = APIRouter(prefix="/tasks/{task_id}/reminders", tags=["reminders"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[ReminderOut],
    responses=error_responses(
        "TASK_NOT_FOUND", "TASK_ARCHIVED", "VALIDATION_ERROR", "REMINDER_LIMIT_EXCEEDED"
    ),
)
def add_reminder(
    task_id: UUID,
    body: ReminderBody,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
) -> Envelope[ReminderOut]:
    """Add a reminder at `remind_at`, or `offset_minutes` before the due date."""
    saved, reminder_id = application.add_reminder(
        AddReminder(actor, task_id, body.remind_at, body.offset_minutes)
    )
    reminder = next(r for r in saved.aggregate.state()["reminders"] if r["id"] == reminder_id)
    return Envelope(
        data=ReminderOut.model_validate(reminder), meta=with_position(response, saved.position)
    )


@router.patch(
    "/{reminder_id}",
    response_model=Envelope[TaskOut],
    responses=error_responses(
        "TASK_NOT_FOUND", "NOT_FOUND", "TASK_ARCHIVED", "VALIDATION_ERROR", "REMINDER_ALREADY_FIRED"
    ),
)
def change_reminder(
    task_id: UUID,
    reminder_id: UUID,
    body: ReminderBody,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
) -> Envelope[TaskOut]:
    """Give a reminder that has not fired yet a new time."""
    saved = application.change_reminder(
        ChangeReminder(actor, task_id, reminder_id, body.remind_at, body.offset_minutes)
    )
    return task_answer(saved, response)


@router.delete(
    "/{reminder_id}",
    response_model=Envelope[TaskOut],
    responses=error_responses("TASK_NOT_FOUND", "NOT_FOUND", "TASK_ARCHIVED"),
)
def remove_reminder(
    task_id: UUID,
    reminder_id: UUID,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
) -> Envelope[TaskOut]:
    """Remove a reminder (fired or not)."""
    saved = application.remove_reminder(RemoveReminder(actor, task_id, reminder_id))
    return task_answer(saved, response)
