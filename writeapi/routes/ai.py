"""AI on the write API: chat, subtask generation, transcription and voice notes.

Every route needs an Idempotency-Key (a paid request must be safe to retry) and counts
against the user's AI rate limit; both are the middlewares' work (writeapi/main.py). A
provider failure is refunded by the command; its answer is final — stored under the key like
a success — so a retry with the same key does not run, and charge, the request again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, File, Query, Request, Response, UploadFile, status
from starlette.types import Scope

from commands.ai import interrupted_spends
from commands.application import PerpetuaApplication
from commands.messages import Actor, AddVoiceNote, AskAssistant, GenerateSubtasks, Transcribe
from infra.ai_providers import ChatProvider, ProviderError, ProviderTimeoutError, Transcriber
from infra.envelope import Envelope, ErrorEnvelope
from infra.errors import (
    ERROR_STATUS,
    ApiError,
    error_response,
    error_response_doc,
    error_responses,
)
from infra.tokens import Principal
from writeapi.deps import ActorDep, ApplicationDep
from writeapi.idempotency import FINAL_ANSWER_STATE
from writeapi.idempotency_store import Committed
from writeapi.responses import task_out, with_position
from writeapi.schemas import (
    ChatBody,
    ChatOut,
    GeneratedSubtasksOut,
    GenerateSubtasksBody,
    ProposedSubtaskOut,
    SuggestedAction,
    TranscriptOut,
    VoiceNoteOut,
)

router = APIRouter(tags=["ai"])

PROVIDER_ANSWERS = ("AI_NOT_CONFIGURED", "AI_PROVIDER_ERROR", "INSUFFICIENT_CREDITS")
# The same code at 504 when the provider did not answer in time (the table maps it to 502).
PROVIDER_TIMEOUT_ANSWER: dict[int | str, dict[str, Any]] = {
    504: {"model": ErrorEnvelope, **error_response_doc(504, ["AI_PROVIDER_ERROR"])}
}


def ai_answers(*codes: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` of an AI route: its own codes, the provider's, and the timeout's 504."""
    return {**error_responses(*PROVIDER_ANSWERS, *codes), **PROVIDER_TIMEOUT_ANSWER}


def chat_provider(request: Request) -> ChatProvider:
    provider: ChatProvider | None = request.app.state.chat_provider
    if provider is None:
        raise ApiError("AI_NOT_CONFIGURED", "AI chat is not configured on this server")
    return provider


def transcriber(request: Request) -> Transcriber:
    provider: Transcriber | None = request.app.state.transcriber
    if provider is None:
        raise ApiError("AI_NOT_CONFIGURED", "transcription is not configured on this server")
    return provider


@contextmanager
def provider_failures(request: Request) -> Iterator[None]:
    """A failed provider call, already refunded, as 504 (timeout) or 502, both final."""
    try:
        yield
    except ProviderError as error:
        setattr(request.state, FINAL_ANSWER_STATE, True)
        timed_out = isinstance(error, ProviderTimeoutError)
        message = (
            "the AI provider did not answer in time" if timed_out else "the AI provider failed"
        )
        raise ApiError(
            "AI_PROVIDER_ERROR",
            f"{message}; your credits were refunded. Retry with a new Idempotency-Key.",
            details={"refunded": True, "reason": "timeout" if timed_out else "provider_error"},
            status=504 if timed_out else None,
        ) from None


def answer_interrupted(
    application: PerpetuaApplication, scope: Scope, principal: Principal, committed: Committed
) -> Response | None:
    """A retry of an AI request whose process died after it paid: if no outcome was
    recorded, the spend is refunded and the request answered as failed (final, like any
    provider failure). None if the outcome was recorded: the generic replay says so."""
    spends = interrupted_spends(committed.aggregates)
    if not spends:
        return None
    application.settle_interrupted(Actor(principal.user_id, principal.tier), spends)
    return error_response(
        scope,
        ERROR_STATUS["AI_PROVIDER_ERROR"],
        "AI_PROVIDER_ERROR",
        "the request was interrupted before the AI provider answered; your credits were"
        " refunded. Retry with a new Idempotency-Key.",
        details={"refunded": True, "reason": "interrupted"},
    )


@router.post(
    "/ai/chat",
    response_model=Envelope[ChatOut],
    responses=ai_answers("AI_CONVERSATION_LIMIT", "CONVERSATION_NOT_FOUND"),
)
def chat(
    body: ChatBody,
    actor: ActorDep,
    application: ApplicationDep,
    request: Request,
    response: Response,
) -> Envelope[ChatOut]:
    """Ask the assistant, with your incomplete tasks as context. Costs credits (SPEC §6)."""
    provider = chat_provider(request)
    command = AskAssistant(actor, body.message, body.conversation_id, body.include_tasks)
    with provider_failures(request):
        outcome = application.ask_assistant(command, provider)
    out = ChatOut(
        response=outcome.response,
        suggested_actions=[SuggestedAction.model_validate(a) for a in outcome.suggested_actions],
        conversation_id=outcome.conversation_id,
        credits_remaining=outcome.credits_remaining,
    )
    return Envelope(data=out, meta=with_position(response, outcome.position))


# No body at all asks for the default count.
_NO_BODY = GenerateSubtasksBody()


@router.post(
    "/ai/tasks/{task_id}/generate-subtasks",
    response_model=Envelope[GeneratedSubtasksOut],
    responses=ai_answers(
        "TASK_NOT_FOUND",
        "TASK_ARCHIVED",
        "TASK_ALREADY_COMPLETED",
        "SUBTASK_LIMIT_EXCEEDED",
    ),
)
def generate_subtasks(
    task_id: UUID,
    actor: ActorDep,
    application: ApplicationDep,
    request: Request,
    response: Response,
    body: GenerateSubtasksBody = _NO_BODY,
    apply: Annotated[bool, Query(description="add the proposed subtasks to the task")] = False,
) -> Envelope[GeneratedSubtasksOut]:
    """Propose subtasks for a task (within its subtask limit); `?apply=true` adds them."""
    provider = chat_provider(request)
    count = body.count
    with provider_failures(request):
        outcome = application.generate_subtasks(
            GenerateSubtasks(actor, task_id, count=count, apply=apply), provider
        )
    ids: list[UUID | None] = list(outcome.added) if apply else [None] * len(outcome.titles)
    out = GeneratedSubtasksOut(
        task_id=task_id,
        applied=apply,
        subtasks=[
            ProposedSubtaskOut(id=subtask_id, title=title)
            for subtask_id, title in zip(ids, outcome.titles, strict=True)
        ],
        task=task_out(outcome.task) if apply else None,
        credits_remaining=outcome.credits_remaining,
    )
    return Envelope(data=out, meta=with_position(response, outcome.position))


AUDIO_ANSWERS = ("PRO_REQUIRED", "AUDIO_TOO_LONG", "UNSUPPORTED_MEDIA_TYPE")


@router.post(
    "/ai/transcribe",
    response_model=Envelope[TranscriptOut],
    responses=ai_answers(*AUDIO_ANSWERS),
)
def transcribe(
    file: Annotated[UploadFile, File(description="a WAV recording of at most 300 s")],
    actor: ActorDep,
    application: ApplicationDep,
    request: Request,
    response: Response,
) -> Envelope[TranscriptOut]:
    """Turn a recording into text (Pro). Costs credits per started minute of audio."""
    provider = transcriber(request)
    with provider_failures(request):
        outcome = application.transcribe(Transcribe(actor, file.file.read()), provider)
    out = TranscriptOut(
        text=outcome.text,
        duration_seconds=outcome.duration_seconds,
        credits_remaining=outcome.credits_remaining,
    )
    return Envelope(data=out, meta=with_position(response, outcome.position))


@router.post(
    "/tasks/{task_id}/notes/voice",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[VoiceNoteOut],
    responses=ai_answers(*AUDIO_ANSWERS, "TASK_NOT_FOUND", "TASK_ARCHIVED", "NOTE_LIMIT_EXCEEDED"),
    tags=["notes"],
)
def add_voice_note(
    task_id: UUID,
    file: Annotated[UploadFile, File(description="a WAV recording of at most 300 s")],
    actor: ActorDep,
    application: ApplicationDep,
    request: Request,
    response: Response,
) -> Envelope[VoiceNoteOut]:
    """Record a note by voice (Pro): the recording is transcribed and kept as a note."""
    provider = transcriber(request)
    command = AddVoiceNote(actor, task_id, file.file.read())
    with provider_failures(request):
        outcome = application.add_voice_note(command, provider)
    assert outcome.task is not None
    assert outcome.note_id is not None
    note = outcome.task.notes[outcome.note_id]
    out = VoiceNoteOut(
        id=outcome.note_id,
        content=note.content,
        source="voice",
        text=outcome.text,
        duration_seconds=outcome.duration_seconds,
        credits_remaining=outcome.credits_remaining,
    )
    return Envelope(data=out, meta=with_position(response, outcome.position))
