"""AI requests, paid in credits: never charged for a failure, never twice for a retry.

A request takes three steps, because a provider call may take many seconds and must hold
neither the user's lock nor a database transaction:

1. the spend (402 INSUFFICIENT_CREDITS when short, and then nothing else happens); under an
   Idempotency-Key this commit also marks the key used, so a retry never spends again;
2. the provider call, outside any lock;
3. on success the outcome (a conversation turn, subtasks, a note) and the usage record are
   saved together; on failure the refund and the usage record are, and the error is raised.

What the model says is untrusted input: it is vetted (commands/ai_actions.py) before it is
shown, and only what passes the commands' own rules is ever applied.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from aggregates.active_tasks import ActiveTasks
from aggregates.ai_usage import AiUsage
from aggregates.conversation import Conversation, ConversationLimitError, ConversationNotFoundError
from aggregates.credit_ledger import CreditLedger
from aggregates.errors import DomainError
from aggregates.task import Task
from aggregates.task_rules import (
    NOTE_MAX_LENGTH,
    PRIORITIES,
    InvalidNoteError,
    NoteLimitExceededError,
    SubtaskLimitExceededError,
    TaskAlreadyCompletedError,
)
from commands.ai_actions import vet_actions, vet_subtask_titles
from commands.credits import CreditCommands
from commands.messages import (
    Actor,
    AddVoiceNote,
    AskAssistant,
    GenerateSubtasks,
    SpendCredits,
    Transcribe,
)
from commands.notes import NoteCommands
from infra.ai_providers import (
    ChatProvider,
    ChatTurn,
    ProviderError,
    ProviderTimeoutError,
    SubtaskAnswer,
    TaskContext,
    Transcriber,
    Transcript,
    Usage,
)
from infra.audio import wav_duration_seconds
from infra.event_store import RequestStampingRecorder
from infra.metrics import AI_PROVIDER_ERRORS, AI_PROVIDER_LATENCY
from infra.text import without_forbidden_characters

T = TypeVar("T")

# Subtasks proposed when the request names no count (and the task has room for them).
DEFAULT_SUBTASK_COUNT = 5
# A model's answer is kept in the conversation (and sent back with every later turn): a
# runaway one is cut here rather than stored whole.
MAX_RESPONSE_CHARS = 8000
# Unlimited subtasks (none of today's tiers) still get at most this many per request.
MAX_SUBTASKS_PER_REQUEST = 10
_PRIORITY_RANK = {priority: rank for rank, priority in enumerate(reversed(PRIORITIES))}


class ProRequiredError(DomainError):
    code = "PRO_REQUIRED"


class InvalidAudioError(DomainError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class AudioTooLongError(DomainError):
    code = "AUDIO_TOO_LONG"


class UnusableAnswerError(ProviderError):
    """The provider answered, but nothing in the answer could be used."""


@dataclass(frozen=True)
class Paid(Generic[T]):
    """A provider's answer and what it cost."""

    answer: T
    spend_id: UUID
    credits: int
    latency_ms: int
    remaining: int  # the balance right after the spend
    prompt_chars: int


@dataclass(frozen=True)
class ChatOutcome:
    response: str
    suggested_actions: list[dict[str, Any]]
    conversation_id: UUID
    credits_remaining: int
    position: int


@dataclass(frozen=True)
class SubtasksOutcome:
    task: Task
    titles: list[str]
    added: list[UUID]  # the new subtasks' ids, when applied
    credits_remaining: int
    position: int


@dataclass(frozen=True)
class TranscriptOutcome:
    text: str
    duration_seconds: float
    credits_remaining: int
    position: int
    task: Task | None = None
    note_id: UUID | None = None


class AiCommands(NoteCommands, CreditCommands):
    # -- chat -------------------------------------------------------------------------------

    def ask_assistant(self, command: AskAssistant, provider: ChatProvider) -> ChatOutcome:
        ai = self.limits.ai
        actor = command.actor
        earlier = self._conversation(actor, command.conversation_id)
        if earlier is not None:
            earlier.check_room(turns_allowed=ai.turns_per_conversation)
        history = [
            turn
            for message, response in (earlier.turns if earlier else [])
            for turn in (ChatTurn("user", message), ChatTurn("assistant", response))
        ]
        tasks = self._task_context(actor) if command.include_tasks else []
        paid = self._pay_for(
            actor,
            kind="chat",
            cost=ai.chat_cost,
            prompt_chars=len(command.message) + sum(len(turn.content) for turn in history),
            call=lambda: provider.chat(history=history, message=command.message, tasks=tasks),
        )
        reply = paid.answer.reply
        response = without_forbidden_characters(reply.response)[:MAX_RESPONSE_CHARS]
        actions = vet_actions(
            reply.suggested_actions,
            task_of=lambda task_id: self._own_live_task(actor, task_id),
            rules=self._rules_of(actor),
            limit=ai.max_suggested_actions,
        )

        def record() -> tuple[int, UUID]:
            conversation = self._conversation(actor, command.conversation_id) or Conversation(
                owner_id=actor.user_id
            )
            conversation.take_turn(
                command.message, response, turns_allowed=ai.turns_per_conversation
            )
            usage = self._usage(actor.user_id, "chat", "ok", paid)
            return self._save(conversation, usage), conversation.id

        try:
            position, conversation_id = self._retry_on_conflict(record, user_id=actor.user_id)
        except ConversationLimitError:
            # Concurrent requests filled the conversation while this one was answered.
            self._refund(actor, paid, kind="chat", outcome="refused", reason="ai_refused")
            raise
        return ChatOutcome(response, actions, conversation_id, paid.remaining, position)

    def _conversation(self, actor: Actor, conversation_id: UUID | None) -> Conversation | None:
        if conversation_id is None:
            return None
        conversation = self._get_owned(
            conversation_id,
            Conversation,
            owner_id=actor.user_id,
            not_found=ConversationNotFoundError("conversation not found"),
        )
        assert isinstance(conversation, Conversation)
        return conversation

    def _task_context(self, actor: Actor) -> list[TaskContext]:
        """The user's incomplete tasks the assistant is told about: the most pressing few, by
        priority and then due date, read from the write model."""
        active = self._singleton(ActiveTasks, actor.user_id)
        tasks = []
        for hex_id in getattr(active, "task_ids", []):  # older snapshots do not list them
            task = self._own_live_task(actor, UUID(hex_id))
            if task is not None and not task.completed:
                tasks.append(task)
        far_future = (1, 0.0)
        tasks.sort(
            key=lambda t: (
                _PRIORITY_RANK.get(t.priority, len(PRIORITIES)),
                (0, t.due_date.timestamp()) if t.due_date else far_future,
            )
        )
        return [
            TaskContext(id=t.id, title=t.title, priority=t.priority, due_date=t.due_date)
            for t in tasks[: self.limits.ai.context_tasks]
        ]

    def _own_live_task(self, actor: Actor, task_id: UUID) -> Task | None:
        try:
            task: object = self.repository.get(task_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(task, Task) or task.owner_id != actor.user_id or task.deleted:
            return None
        return task

    # -- subtask generation -----------------------------------------------------------------

    def generate_subtasks(
        self, command: GenerateSubtasks, provider: ChatProvider
    ) -> SubtasksOutcome:
        actor = command.actor
        task = self._get_task(actor, command.task_id)
        task.check_writable()
        if task.completed:
            raise TaskAlreadyCompletedError("the task is completed; reopen it to plan it further")
        rules = self._rules_of(actor)
        room = self._subtask_room(task, rules.subtasks_per_task)
        if room <= 0:
            raise SubtaskLimitExceededError(
                "this task has no room for more subtasks", limit=rules.subtasks_per_task
            )
        count = min(command.count or DEFAULT_SUBTASK_COUNT, room)
        existing = [subtask.title for subtask in task.subtasks.values()]

        def ask() -> SubtaskAnswer:
            answer = provider.generate_subtasks(
                title=task.title, description=task.description, existing=existing, count=count
            )
            titles = vet_subtask_titles(answer.titles, rules=rules, existing=existing, room=count)
            if not titles:
                raise UnusableAnswerError("the provider proposed no usable subtask")
            return SubtaskAnswer(titles=titles, usage=answer.usage)

        paid = self._pay_for(
            actor,
            kind="subtasks",
            cost=self.limits.ai.subtasks_cost,
            prompt_chars=len(task.title) + len(task.description or ""),
            call=ask,
        )
        proposed = paid.answer.titles

        def record() -> tuple[int, Task, list[UUID]]:
            usage = self._usage(actor.user_id, "subtasks", "ok", paid)
            if not command.apply:
                return self._save(usage), task, []
            current = self._get_task(actor, command.task_id)
            current.check_writable()
            if current.completed:
                raise TaskAlreadyCompletedError("the task was completed meanwhile")
            fresh_rules = self._rules_of(actor)
            room_now = self._subtask_room(current, fresh_rules.subtasks_per_task)
            added = [current.add_subtask(t, rules=fresh_rules) for t in proposed[:room_now]]
            return self._save(current, usage), current, added

        try:
            position, saved_task, added = self._retry_on_conflict(record, user_id=actor.user_id)
        except DomainError:
            # The task changed under the request (completed, archived, deleted): not applied.
            self._refund(actor, paid, kind="subtasks", outcome="refused", reason="ai_refused")
            raise
        titles = [saved_task.subtasks[i].title for i in added] if command.apply else proposed
        return SubtasksOutcome(saved_task, titles, added, paid.remaining, position)

    @staticmethod
    def _subtask_room(task: Task, limit: int | None) -> int:
        if limit is None:
            return MAX_SUBTASKS_PER_REQUEST
        return min(limit - len(task.subtasks), MAX_SUBTASKS_PER_REQUEST)

    # -- transcription ----------------------------------------------------------------------

    def transcribe(self, command: Transcribe, transcriber: Transcriber) -> TranscriptOutcome:
        actor = command.actor
        cost, seconds = self._price_of_audio(actor, command.audio)
        paid = self._pay_for(
            actor,
            kind="transcription",
            cost=cost,
            prompt_chars=0,
            call=lambda: self._transcript(transcriber, command.audio),
        )

        def record() -> int:
            return self._save(self._usage(actor.user_id, "transcription", "ok", paid))

        position = self._retry_on_conflict(record, user_id=actor.user_id)
        return TranscriptOutcome(paid.answer.text, seconds, paid.remaining, position)

    def add_voice_note(self, command: AddVoiceNote, transcriber: Transcriber) -> TranscriptOutcome:
        actor = command.actor
        task = self._get_task(actor, command.task_id)
        task.check_writable()
        limit = self._rules_of(actor).notes_per_task
        if limit is not None and len(task.notes) >= limit:
            raise NoteLimitExceededError(f"a task may have at most {limit} notes", limit=limit)
        cost, seconds = self._price_of_audio(actor, command.audio)

        def heard() -> Transcript:
            transcript = self._transcript(transcriber, command.audio)
            if not transcript.text.strip():
                raise InvalidNoteError("nothing was heard in the recording", field="file")
            return transcript

        paid = self._pay_for(actor, kind="voice_note", cost=cost, prompt_chars=0, call=heard)
        # A note holds at most NOTE_MAX_LENGTH characters; the answer carries the whole text.
        content = paid.answer.text[:NOTE_MAX_LENGTH]

        def record() -> tuple[int, Task, UUID]:
            current = self._get_task(actor, command.task_id)
            note_id = current.add_note(content, rules=self._rules_of(actor), source="voice")
            usage = self._usage(actor.user_id, "voice_note", "ok", paid)
            return self._save(current, usage), current, note_id

        try:
            position, saved_task, note_id = self._retry_on_conflict(record, user_id=actor.user_id)
        except DomainError:
            self._refund(actor, paid, kind="voice_note", outcome="refused", reason="ai_refused")
            raise
        return TranscriptOutcome(
            paid.answer.text, seconds, paid.remaining, position, saved_task, note_id
        )

    def _price_of_audio(self, actor: Actor, audio: bytes) -> tuple[int, float]:
        """Pro only; WAV only, since the price (per started minute) is due before the call."""
        if self.tier_of(actor.user_id) != "pro":
            raise ProRequiredError("transcription is a Pro feature")
        try:
            seconds = wav_duration_seconds(audio)
        except ValueError as error:
            raise InvalidAudioError(f"the recording must be a WAV file: {error}") from None
        longest = self.limits.ai.max_audio_seconds
        if seconds > longest:
            raise AudioTooLongError(
                f"recordings may be at most {longest} seconds long",
                max_seconds=longest,
                duration_seconds=round(seconds, 3),
            )
        minutes = max(1, math.ceil(seconds / 60))
        return minutes * self.limits.ai.transcription_cost_per_minute, seconds

    @staticmethod
    def _transcript(transcriber: Transcriber, audio: bytes) -> Transcript:
        transcript = transcriber.transcribe(audio, content_type="audio/wav")
        text = without_forbidden_characters(transcript.text).strip()
        return Transcript(text=text, duration_seconds=transcript.duration_seconds)

    # -- requests interrupted half-way -------------------------------------------------------

    def settle_interrupted(self, actor: Actor, spends: Sequence[tuple[UUID, int]]) -> None:
        """Refund AI spends whose request died (a crash, a kill) after paying and before its
        outcome was recorded: `spends` are (ledger id, version) of the spends it committed.
        A spend refunded already is left alone, so settling twice records nothing more."""
        for ledger_id, version in spends:
            for spent in self.events.get(ledger_id, gt=version - 1, lte=version):
                if isinstance(spent, CreditLedger.CreditsSpent) and spent.reason.startswith("ai_"):
                    self._refund_interrupted(actor, spent)

    def sweep_interrupted(self, *, idle_for: timedelta, limit: int) -> int:
        """Refund the AI spends of requests that died half-way and were never retried (the
        scheduler's work); returns how many keys it looked at. Those refunded already, by a
        retry, record nothing more."""
        recorder = self.recorder
        if not isinstance(recorder, RequestStampingRecorder):
            return 0  # an in-memory store (unit tests) keeps no Idempotency-Keys
        abandoned = recorder.abandoned_commits(idle_for, limit)
        for commit in abandoned:
            spends = interrupted_spends(commit.aggregates)
            if spends:
                self.settle_interrupted(Actor(commit.user_id), spends)
            recorder.mark_swept(commit)
        return len(abandoned)

    def _refund_interrupted(self, actor: Actor, spent: CreditLedger.CreditsSpent) -> None:
        nothing_heard = Paid(None, spent.spend_id, spent.amount, 0, 0, 0)
        kind = spent.reason.removeprefix("ai_")
        self._refund(
            actor, nothing_heard, kind=kind, outcome="interrupted", reason="ai_interrupted"
        )

    # -- paying -----------------------------------------------------------------------------

    def _pay_for(
        self,
        actor: Actor,
        *,
        kind: str,
        cost: int,
        prompt_chars: int,
        call: Callable[[], T],
    ) -> Paid[T]:
        """Spend, then call; any failure of the call is refunded before it is raised."""
        spend_id = uuid4()
        remaining = self._spend(actor, cost, spend_id, kind)
        started = time.monotonic()
        try:
            answer = call()
        except Exception as error:  # whatever went wrong, the user does not pay for it
            latency_ms = round((time.monotonic() - started) * 1000)
            outcome = _outcome_of(error)
            AI_PROVIDER_ERRORS.labels(kind=kind, outcome=outcome).inc()
            AI_PROVIDER_LATENCY.labels(kind=kind, outcome=outcome).observe(latency_ms / 1000)
            failed = Paid(None, spend_id, cost, latency_ms, remaining, prompt_chars)
            self._refund(actor, failed, kind=kind, outcome=outcome, reason=f"ai_{outcome}")
            raise
        latency_ms = round((time.monotonic() - started) * 1000)
        AI_PROVIDER_LATENCY.labels(kind=kind, outcome="ok").observe(latency_ms / 1000)
        return Paid(answer, spend_id, cost, latency_ms, remaining, prompt_chars)

    def _spend(self, actor: Actor, cost: int, spend_id: UUID, kind: str) -> int:
        if cost <= 0:  # made free by configuration
            return self._ledger_now(actor.user_id).total
        change = self.spend_credits(SpendCredits(actor, cost, f"ai_{kind}", spend_id))
        return change.ledger.total

    def _refund(
        self, actor: Actor, paid: Paid[Any], *, kind: str, outcome: str, reason: str
    ) -> None:
        """Give the credits back and record the failed request, in one commit; nothing if
        the spend was refunded already (a retry and the scheduler may both settle it)."""
        user_id = actor.user_id

        def attempt() -> None:
            ledger = self._ledger_now(user_id)
            if not ledger.refund(paid.spend_id, reason=reason, now=self.clock()):
                return
            refunded = replace(paid, credits=0)
            self._save(ledger, self._usage(user_id, kind, outcome, refunded))

        self._retry_on_conflict(attempt, user_id=user_id)

    def _usage(self, user_id: UUID, kind: str, outcome: str, paid: Paid[Any]) -> AiUsage:
        usage = self._singleton(AiUsage, user_id)
        tokens = _usage_of(paid.answer)
        usage.record(
            kind=kind,
            outcome=outcome,
            prompt_chars=paid.prompt_chars,
            tokens_in=tokens.tokens_in,
            tokens_out=tokens.tokens_out,
            credits=paid.credits,
            latency_ms=paid.latency_ms,
            spend_id=paid.spend_id,
        )
        return usage


def interrupted_spends(saved: Sequence[dict[str, Any]]) -> list[tuple[UUID, int]]:
    """The AI spends a key's command committed without its outcome: (ledger id, version) of
    each `CreditsSpent`, or none when an outcome (or a refund) was recorded after them.
    `saved` is what the event store noted of the command's commits: id, version, topic."""
    if any(entry["topic"].endswith("AiUsage.RequestRecorded") for entry in saved):
        return []
    return [
        (UUID(entry["id"]), int(entry["version"]))
        for entry in saved
        if entry["topic"].endswith("CreditLedger.CreditsSpent")
    ]


def _outcome_of(error: Exception) -> str:
    if isinstance(error, ProviderTimeoutError):
        return "timeout"
    return "provider_error" if isinstance(error, ProviderError) else "refused"


def _usage_of(answer: object) -> Usage:
    usage = getattr(answer, "usage", None)
    return usage if isinstance(usage, Usage) else Usage(tokens_in=0, tokens_out=0)
