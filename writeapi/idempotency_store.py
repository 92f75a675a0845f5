"""Where Idempotency-Keys and the responses they answered are kept: one PostgreSQL table.

A key belongs to a user. Claiming it is one upsert that only succeeds for a new key, an
expired one (older than the retention) or an abandoned one (in progress for longer than the
lease, e.g. its process died); so two requests with the same key can never both run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool


class ClaimOutcome(Enum):
    CLAIMED = "claimed"  # run the request, then complete() or release()
    REPLAY = "replay"  # answer with the stored response
    IN_PROGRESS = "in_progress"  # the first request with this key is still running
    REUSED = "reused"  # the key was used for a different request


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    response: StoredResponse | None = None


class IdempotencyStore:
    def __init__(
        self,
        pool: ConnectionPool,
        *,
        schema: str,
        retention: timedelta = timedelta(hours=24),
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self.pool = pool
        self.retention = retention
        self.lease = lease
        table = SQL("{}.{}").format(Identifier(schema), Identifier("idempotency_keys"))
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
        self._claim = SQL(
            "INSERT INTO {t} AS k (user_id, key, fingerprint, state, created_at, updated_at)"
            " VALUES (%(user_id)s, %(key)s, %(fingerprint)s, 'in_progress', now(), now())"
            " ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
            " state = 'in_progress', status = NULL, headers = NULL, body = NULL,"
            " created_at = now(), updated_at = now()"
            " WHERE k.created_at < now() - %(retention)s"
            " OR (k.state = 'in_progress' AND k.updated_at < now() - %(lease)s)"
            " RETURNING true AS claimed"
        ).format(t=table)
        self._existing = SQL(
            "SELECT fingerprint, state, status, headers, body FROM {}"
            " WHERE user_id = %s AND key = %s"
        ).format(table)
        self._complete = SQL(
            "UPDATE {} SET state = 'completed', status = %s, headers = %s, body = %s,"
            " updated_at = now() WHERE user_id = %s AND key = %s AND state = 'in_progress'"
        ).format(table)
        self._release = SQL(
            "DELETE FROM {} WHERE user_id = %s AND key = %s AND state = 'in_progress'"
        ).format(table)
        self._forget_expired = SQL("DELETE FROM {} WHERE created_at < now() - %s").format(table)

    def create_table(self) -> None:
        with self.pool.connection() as conn:
            conn.execute(self._create)

    def claim(self, user_id: UUID, key: str, fingerprint: str) -> Claim:
        params = {
            "user_id": user_id,
            "key": key,
            "fingerprint": fingerprint,
            "retention": self.retention,
            "lease": self.lease,
        }
        # A second round only happens when the holder released the key between our two
        # statements; the third cannot find it released again by the same request.
        for _ in range(3):
            with self.pool.connection() as conn:
                if conn.execute(self._claim, params).fetchone() is not None:
                    return Claim(ClaimOutcome.CLAIMED)
                cursor = conn.cursor(row_factory=dict_row)
                row = cursor.execute(self._existing, (user_id, key)).fetchone()
            if row is not None:
                return self._decide(row, fingerprint)
        return Claim(ClaimOutcome.IN_PROGRESS)

    @staticmethod
    def _decide(row: dict[str, Any], fingerprint: str) -> Claim:
        if row["fingerprint"] != fingerprint:
            return Claim(ClaimOutcome.REUSED)
        if row["state"] != "completed":
            return Claim(ClaimOutcome.IN_PROGRESS)
        headers = [(name, value) for name, value in row["headers"]]
        return Claim(ClaimOutcome.REPLAY, StoredResponse(row["status"], headers, row["body"]))

    def complete(self, user_id: UUID, key: str, response: StoredResponse) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                self._complete,
                (response.status, json.dumps(response.headers), response.body, user_id, key),
            )

    def release(self, user_id: UUID, key: str) -> None:
        """Forget a claim whose request failed, so that a retry can run it."""
        with self.pool.connection() as conn:
            conn.execute(self._release, (user_id, key))

    def forget_expired(self) -> int:
        with self.pool.connection() as conn:
            return conn.execute(self._forget_expired, (self.retention,)).rowcount
