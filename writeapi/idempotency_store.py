"""Where Idempotency-Keys and the responses they answered are kept: one PostgreSQL table.

A key belongs to a user. Claiming it is one upsert that only succeeds for a new key, an
expired one (older than the retention) or an abandoned one (in progress for longer than the
lease, e.g. its process died, and nothing committed); so two requests with the same key can
never both run. Each claim is a new `attempt`; the event store marks the key committed by that
attempt in the command's own transaction (infra/command_keys.py), so a key whose command
committed is never run again, even if its answer was lost on the way to this table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any
from uuid import UUID, uuid4

from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from infra.command_keys import IDEMPOTENCY_TABLE


class ClaimOutcome(Enum):
    CLAIMED = "claimed"  # run the request, then complete() or release()
    REPLAY = "replay"  # answer with the stored response
    COMMITTED = "committed"  # the command committed but its answer was lost: say what it did
    IN_PROGRESS = "in_progress"  # the first request with this key is still running
    REUSED = "reused"  # the key was used for a different request


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Committed:
    """What a command recorded, when its answer was never stored: position and aggregates."""

    position: int
    aggregates: list[dict[str, Any]]


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    response: StoredResponse | None = None
    attempt: UUID | None = None  # CLAIMED: this claim's attempt, for complete() and release()
    committed: Committed | None = None


class IdempotencyStore:
    def __init__(
        self,
        pool: ConnectionPool,
        *,
        schema: str,
        retention: timedelta = timedelta(hours=24),
        # Short, because it is not what keeps a command from running twice (the attempt
        # fencing in the event store is): only how long a retry waits for an abandoned claim.
        lease: timedelta = timedelta(seconds=10),
    ) -> None:
        self.pool = pool
        self.retention = retention
        self.lease = lease
        table = SQL("{}.{}").format(Identifier(schema), Identifier(IDEMPOTENCY_TABLE))
        self._create = SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " user_id uuid NOT NULL,"
            " key text NOT NULL,"
            " fingerprint text NOT NULL,"
            " state text NOT NULL,"
            " status integer,"
            " headers jsonb,"
            " body bytea,"
            " created_at timestamptz NOT NULL,"
            " updated_at timestamptz NOT NULL,"
            " PRIMARY KEY (user_id, key))"
        ).format(table)
        # Columns added since the first version of the table: added where missing.
        self._migrate = [
            SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                table, Identifier(column), SQL(kind)
            )
            for column, kind in (
                ("attempt", "uuid"),
                ("committed_attempt", "uuid"),
                ("committed_position", "bigint"),
                ("committed_aggregates", "jsonb"),
            )
        ]
        # An abandoned claim is taken over only if its command committed nothing.
        self._claim = SQL(
            "INSERT INTO {t} AS k (user_id, key, fingerprint, state, attempt, created_at,"
            " updated_at)"
            " VALUES (%(user_id)s, %(key)s, %(fingerprint)s, 'in_progress', %(attempt)s,"
            " now(), now())"
            " ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
            " state = 'in_progress', status = NULL, headers = NULL, body = NULL,"
            " attempt = EXCLUDED.attempt, committed_attempt = NULL, committed_position = NULL,"
            " committed_aggregates = NULL, created_at = now(), updated_at = now()"
            " WHERE k.created_at < now() - %(retention)s"
            " OR (k.state = 'in_progress' AND k.updated_at < now() - %(lease)s"
            " AND k.committed_attempt IS NULL)"
            " RETURNING true AS claimed"
        ).format(t=table)
        self._existing = SQL(
            "SELECT fingerprint, state, status, headers, body, committed_position,"
            " committed_aggregates, updated_at < now() - %s AS abandoned"
            " FROM {} WHERE user_id = %s AND key = %s"
        ).format(table)
        self._complete = SQL(
            "UPDATE {} SET state = 'completed', status = %s, headers = %s, body = %s,"
            " updated_at = now()"
            " WHERE user_id = %s AND key = %s AND state = 'in_progress' AND attempt = %s"
        ).format(table)
        # A claim whose command committed stays: the key must never run that command again.
        self._release = SQL(
            "DELETE FROM {} WHERE user_id = %s AND key = %s AND state = 'in_progress'"
            " AND attempt = %s AND committed_attempt IS NULL"
        ).format(table)
        # A request that failed after its command committed: its key stays used, and retries
        # are told what it recorded at once (not "in progress" until the lease ends).
        self._settle = SQL(
            "UPDATE {} SET state = 'committed', updated_at = now() WHERE user_id = %s"
            " AND key = %s AND state = 'in_progress' AND attempt = %s"
            " AND committed_attempt IS NOT NULL"
        ).format(table)
        self._renew = SQL(
            "UPDATE {} SET updated_at = now() WHERE user_id = %s AND key = %s"
            " AND state = 'in_progress' AND attempt = %s"
        ).format(table)
        self._forget_expired = SQL("DELETE FROM {} WHERE created_at < now() - %s").format(table)

    def create_table(self) -> None:
        with self.pool.connection() as conn:
            conn.execute(self._create)
            for statement in self._migrate:
                conn.execute(statement)

    def claim(self, user_id: UUID, key: str, fingerprint: str) -> Claim:
        attempt = uuid4()
        params = {
            "user_id": user_id,
            "key": key,
            "fingerprint": fingerprint,
            "attempt": attempt,
            "retention": self.retention,
            "lease": self.lease,
        }
        # A second round only happens when the holder released the key between our two
        # statements; the third cannot find it released again by the same request.
        for _ in range(3):
            with self.pool.connection() as conn:
                if conn.execute(self._claim, params).fetchone() is not None:
                    return Claim(ClaimOutcome.CLAIMED, attempt=attempt)
                cursor = conn.cursor(row_factory=dict_row)
                row = cursor.execute(self._existing, (self.lease, user_id, key)).fetchone()
            if row is not None:
                return self._decide(row, fingerprint)
        return Claim(ClaimOutcome.IN_PROGRESS)

    @staticmethod
    def _decide(row: dict[str, Any], fingerprint: str) -> Claim:
        if row["fingerprint"] != fingerprint:
            return Claim(ClaimOutcome.REUSED)
        if row["state"] != "completed":
            # Committed but still running (about to store its answer): wait for that answer.
            # Committed and failed, or abandoned (its process died): it must not run again,
            # and what it recorded is known.
            settled = row["state"] == "committed" or row["abandoned"]
            if row["committed_position"] is None or not settled:
                return Claim(ClaimOutcome.IN_PROGRESS)
            committed = Committed(row["committed_position"], row["committed_aggregates"] or [])
            return Claim(ClaimOutcome.COMMITTED, committed=committed)
        headers = [(name, value) for name, value in row["headers"]]
        return Claim(ClaimOutcome.REPLAY, StoredResponse(row["status"], headers, row["body"]))

    def complete(self, user_id: UUID, key: str, attempt: UUID, response: StoredResponse) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                self._complete,
                (
                    response.status,
                    json.dumps(response.headers),
                    response.body,
                    user_id,
                    key,
                    attempt,
                ),
            )

    def release(self, user_id: UUID, key: str, attempt: UUID) -> None:
        """Forget a claim whose request failed, so that a retry can run it — unless its
        command committed, in which case the key stays used."""
        with self.pool.connection() as conn:
            conn.execute(self._release, (user_id, key, attempt))
            conn.execute(self._settle, (user_id, key, attempt))

    def renew(self, user_id: UUID, key: str, attempt: UUID) -> None:
        """The request holding this claim is still running: start its lease again."""
        with self.pool.connection() as conn:
            conn.execute(self._renew, (user_id, key, attempt))

    def forget_expired(self) -> int:
        with self.pool.connection() as conn:
            return conn.execute(self._forget_expired, (self.retention,)).rowcount
