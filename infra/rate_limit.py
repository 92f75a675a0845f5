"""Request rate limits: a sliding window per client, in PostgreSQL or in this process's memory.

The service runs with the PostgreSQL window: its hits are rows in one table, so the limit is
exact however many processes serve the API (an advisory lock per bucket and client orders the
racing hits). The in-memory window serves the database-less unit tests and needs no setup.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from fastapi.concurrency import run_in_threadpool
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.client_address import client_address
from infra.errors import ERROR_STATUS, error_response

logger = logging.getLogger(__name__)


class Window(Protocol):
    limit: int
    window: float

    def hit(self, key: str) -> float:
        """Count a hit; 0 if allowed, else the seconds until one would be."""
        ...


class SlidingWindow:
    """At most `limit` hits per `window` seconds for each key, in this process."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window - now
            hits.append(now)
            self._forget_idle(now)
            return 0.0

    def _forget_idle(self, now: float) -> None:
        # Keeps memory bounded by the clients of the last window, not of all time.
        if len(self._hits) > 10_000:
            idle = [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]
            for key in idle:
                del self._hits[key]


class RateLimitStore:
    """The hits of every PostgreSQL window: one row per allowed hit, kept for one window."""

    def __init__(self, pool: ConnectionPool, *, schema: str) -> None:
        self.pool = pool
        table = SQL("{}.{}").format(Identifier(schema), Identifier("rate_limit_hits"))
        self._create = [
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " bucket text NOT NULL, client text NOT NULL, at timestamptz NOT NULL)"
            ).format(table),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (bucket, client, at)").format(
                Identifier("rate_limit_hits_idx"), table
            ),
        ]
        # The database's clock, not the processes': every replica judges by the same one.
        self._lock = SQL("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))")
        self._forget = SQL(
            "DELETE FROM {} WHERE bucket = %s AND client = %s AND at <= clock_timestamp() - %s"
        ).format(table)
        self._count = SQL(
            "SELECT count(*) AS hits,"
            " extract(epoch FROM min(at) + %s - clock_timestamp()) AS wait"
            " FROM {} WHERE bucket = %s AND client = %s"
        ).format(table)
        self._hit = SQL("INSERT INTO {} VALUES (%s, %s, clock_timestamp())").format(table)

    def create_table(self) -> None:
        with self.pool.connection() as conn:
            for statement in self._create:
                conn.execute(statement)

    def window(self, bucket: str, *, limit: int, window: float) -> PostgresWindow:
        return PostgresWindow(self, bucket, limit=limit, window=window)

    def hit(self, bucket: str, client: str, *, limit: int, window: float) -> float:
        span = timedelta(seconds=window)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(self._lock, (f"{bucket} {client}",))
            conn.execute(self._forget, (bucket, client, span))
            row = conn.execute(self._count, (span, bucket, client)).fetchone()
            assert row is not None
            hits, wait = row
            if hits >= limit:
                return max(float(wait), 0.001)
            conn.execute(self._hit, (bucket, client))
            return 0.0


class PostgresWindow:
    """At most `limit` hits per `window` seconds for each key, across every process."""

    def __init__(self, store: RateLimitStore, bucket: str, *, limit: int, window: float) -> None:
        self.store = store
        self.bucket = bucket
        self.limit = limit
        self.window = window

    def hit(self, key: str) -> float:
        return self.store.hit(self.bucket, key, limit=self.limit, window=self.window)


@dataclass(frozen=True)
class RateRule:
    """Requests whose path starts with `prefix` (and ends with `suffix`) share one window per
    client address, or per signed-in user when `per_user` (a user's AI requests count the
    same from every device and address)."""

    prefix: str
    window: Window
    per_user: bool = False
    suffix: str = ""

    def matches(self, path: str) -> bool:
        return path.startswith(self.prefix) and path.endswith(self.suffix)

    def client_of(self, scope: Scope, trusted_proxies: tuple[str, ...]) -> str:
        principal = scope.get("state", {}).get("principal")
        user_id = getattr(principal, "user_id", None)
        if self.per_user and user_id is not None:
            return f"user:{user_id}"
        return client_address(scope, trusted_proxies)


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, rules: Iterable[RateRule], trusted_proxies: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.rules = tuple(rules)
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for rule in self.rules:
                if rule.matches(scope["path"]):
                    client = rule.client_of(scope, self.trusted_proxies)
                    wait = await self._hit(rule.window, client)
                    if wait > 0:
                        response = error_response(
                            scope,
                            ERROR_STATUS["RATE_LIMITED"],
                            "RATE_LIMITED",
                            "too many requests; slow down",
                            details={
                                "limit": rule.window.limit,
                                "window_seconds": rule.window.window,
                            },
                            headers={"Retry-After": str(max(1, math.ceil(wait)))},
                        )
                        await response(scope, receive, send)
                        return
        await self.app(scope, receive, send)

    @staticmethod
    async def _hit(window: Window, client: str) -> float:
        try:
            return await run_in_threadpool(window.hit, client)
        except Exception:
            # The limit protects the service; without its database the request fails anyway,
            # and a limiter that throws would turn a blip into errors on every sign-in.
            logger.warning("rate limit unavailable; letting the request through", exc_info=True)
            return 0.0
