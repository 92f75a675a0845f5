"""Conversation: one chat with the assistant, its owner and its turns.

The provider is shown the earlier turns, so they are kept here, in the write model; a turn is
recorded only once its answer is in hand (a failed request leaves the conversation as it was).
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError


class ConversationNotFoundError(DomainError):
    code = "CONVERSATION_NOT_FOUND"


class ConversationLimitError(DomainError):
    code = "AI_CONVERSATION_LIMIT"


class Conversation(Aggregate):
    class Started(Aggregate.Created):
        owner_id: UUID

    class TurnTaken(Aggregate.Event):
        message: str
        response: str

    @event(Started)
    def __init__(self, owner_id: UUID) -> None:
        self.owner_id = owner_id
        # (message, response) pairs, oldest first.
        self.turns: list[tuple[str, str]] = []

    def check_room(self, *, turns_allowed: int) -> None:
        """Refuse a request the conversation has no room for, before anything is charged."""
        if len(self.turns) >= turns_allowed:
            raise ConversationLimitError(
                f"a conversation holds at most {turns_allowed} requests; start a new one",
                limit=turns_allowed,
            )

    def take_turn(self, message: str, response: str, *, turns_allowed: int) -> None:
        self.check_room(turns_allowed=turns_allowed)
        self._turn_taken(message=message, response=response)

    @event(TurnTaken)
    def _turn_taken(self, message: str, response: str) -> None:
        self.turns.append((message, response))
