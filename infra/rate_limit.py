"""Request rate limits: a sliding window per client, kept in this process's memory.

In memory is exact for one process per API (what `perpetua up` and docker-compose run); with
several replicas each enforces its own window, so the effective limit multiplies by their
number. Documented in docs/decisions.md.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from infra.errors import ERROR_STATUS, error_response


class SlidingWindow:
    """At most `limit` hits per `window` seconds for each key."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Count a hit; 0 if allowed, else the seconds until one would be."""
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
    """Requests whose path starts with `prefix` share one window per client IP."""

    prefix: str
    window: SlidingWindow


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, rules: Iterable[RateRule]) -> None:
        self.app = app
        self.rules = tuple(rules)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for rule in self.rules:
                if scope["path"].startswith(rule.prefix):
                    client = scope.get("client")
                    wait = rule.window.hit(client[0] if client else "unknown")
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
