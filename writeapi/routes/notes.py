"""Note commands. Adding answers 201 with the note; editing and removing, with the task."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from commands.messages import AddNote, EditNote, RemoveNote
from infra.envelope import Envelope
from infra.errors import error_responses
from writeapi.deps import ActorDep, ApplicationDep
from writeapi.responses import task_answer, with_position
from writeapi.schemas import NoteBody, NoteOut, TaskOut

router = APIRouter(prefix="/tasks/{task_id}/notes", tags=["notes"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[NoteOut],
    responses=error_responses("TASK_NOT_FOUND", "TASK_ARCHIVED", "NOTE_LIMIT_EXCEEDED"),
)
def add_note(
    task_id: UUID, body: NoteBody, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[NoteOut]:
    """Add a text note to a task."""
    saved, note_id = application.add_note(AddNote(actor, task_id, body.content))
    note = next(n for n in saved.aggregate.state()["notes"] if n["id"] == note_id)
    return Envelope(data=NoteOut.model_validate(note), meta=with_position(response, saved.position))


@router.patch(
    "/{note_id}",
    response_model=Envelope[TaskOut],
    responses=error_responses("TASK_NOT_FOUND", "NOT_FOUND", "TASK_ARCHIVED"),
)
def edit_note(
    task_id: UUID,
    note_id: UUID,
    body: NoteBody,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
) -> Envelope[TaskOut]:
    """Replace a note's text."""
    saved = application.edit_note(EditNote(actor, task_id, note_id, body.content))
    return task_answer(saved, response)


@router.delete(
    "/{note_id}",
    response_model=Envelope[TaskOut],
    responses=error_responses("TASK_NOT_FOUND", "NOT_FOUND", "TASK_ARCHIVED"),
)
def remove_note(
    task_id: UUID, note_id: UUID, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[TaskOut]:
    """Remove a note."""
    saved = application.remove_note(RemoveNote(actor, task_id, note_id))
    return task_answer(saved, response)
