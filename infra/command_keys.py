"""The Idempotency-Key a command runs under, for the event store to record in its commit.

The write API's idempotency middleware claims a key (a row of `events.idempotency_keys`) with
a fresh `attempt` id and sets `current_command_key` while the request runs. The event store's
recorder then marks the key committed — position and saved aggregates — in the very
transaction that appends the command's events. So a command's events and the record that
its key was used commit together or not at all: a retry after a crash finds the mark and
never appends the command again, and an attempt whose claim was taken over (its lease ran
out) can no longer commit at all.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID

IDEMPOTENCY_TABLE = "idempotency_keys"


@dataclass(frozen=True)
class CommandKey:
    user_id: UUID
    key: str
    attempt: UUID


current_command_key: ContextVar[CommandKey | None] = ContextVar(
    "perpetua_command_key", default=None
)


class CommandKeyLostError(Exception):
    """This attempt no longer holds its Idempotency-Key: nothing of it was recorded."""
