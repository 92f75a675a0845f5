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
from typing import Protocol

from fastapi.concurrency import run_in_threadpool
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
