"""AiUsage: one per user, an event for every AI request they made, whatever its outcome.

What an auditor and the activity log need of a paid call: what kind of request it was, how
big (characters sent, tokens in and out), what it cost, how it ended and how long the
provider took. The prompt itself is not kept here: it is the user's text, and lives only
where the user put it (a conversation's turns).
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.ids import singleton_id

# How an AI request can end; `credits` is what it cost after any refund. "refused": the
# provider answered, but the answer could not be used (the conversation filled up, the task
# changed meanwhile) and the credits went back. "interrupted": the process serving it died
# after the spend, and the retry refunded it.
OUTCOMES = frozenset({"ok", "provider_error", "timeout", "refused", "interrupted"})


class AiUsage(Aggregate):
    class Opened(Aggregate.Created):
        user_id: UUID

    class RequestRecorded(Aggregate.Event):
        kind: str  # chat | subtasks | transcription | voice_note
        outcome: str
        prompt_chars: int
        tokens_in: int
        tokens_out: int
        credits: int
        latency_ms: int
        spend_id: UUID

    @staticmethod
    def create_id(user_id: UUID) -> UUID:
        return singleton_id("ai-usage", user_id)

    @event(Opened)
    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        self.requests = 0

    def record(
        self,
        *,
        kind: str,
        outcome: str,
        prompt_chars: int,
        tokens_in: int,
        tokens_out: int,
        credits: int,
        latency_ms: int,
        spend_id: UUID,
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown AI outcome {outcome!r}")
        self._request_recorded(
            kind=kind,
            outcome=outcome,
            prompt_chars=prompt_chars,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            credits=credits,
            latency_ms=latency_ms,
            spend_id=spend_id,
        )

    @event(RequestRecorded)
    def _request_recorded(
        self,
        kind: str,
        outcome: str,
        prompt_chars: int,
        tokens_in: int,
        tokens_out: int,
        credits: int,
        latency_ms: int,
        spend_id: UUID,
    ) -> None:
        self.requests += 1
