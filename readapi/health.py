"""Projection health: position, lag and staleness, for /health/ready and the metrics."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eventsourcing.persistence import PersistenceError
from fastapi.concurrency import run_in_threadpool

from infra.metrics import (
    EVENT_STORE_HEAD,
    PROJECTION_FAILED,
    PROJECTION_LAG_EVENTS,
    PROJECTION_LAG_SECONDS,
    PROJECTION_POSITION,
)
from projections.failures import ProjectionFailure
from readapi.consistency import ProjectionProgress

# Between scrapes the gauges are at most this old; each refresh costs two tiny queries.
REFRESH_INTERVAL_SECONDS = 5.0


class ProjectionHealth:
    def __init__(
        self,
        progress: ProjectionProgress,
        names: Sequence[str],
        store_head: Callable[[], int],
        stale_after_seconds: float,
        failures: Callable[[], Mapping[str, ProjectionFailure]] = dict,
    ) -> None:
        self.progress = progress
        self.names = tuple(names)
        self.store_head = store_head
        self.stale_after_seconds = stale_after_seconds
        self.failures = failures
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> dict[str, Any]:
        """Ready while the database answers and no projection is stuck behind the store."""
        try:
            head = await run_in_threadpool(self.store_head)
        except (PersistenceError, OSError) as error:
            return {"ready": False, "database": f"unreachable: {type(error).__name__}"}
        await self.progress.refresh()
        failures = await run_in_threadpool(self.failures)
        EVENT_STORE_HEAD.set(head)
        now = time.monotonic()
        report: dict[str, Any] = {"ready": True, "database": "ok", "event_store_head": head}
        for name in self.names:
            position = self.progress.positions.get(name, 0)
            lag = max(head - position, 0)
            # Seconds since the projection last moved while events wait: how far behind it is.
            behind = now - self.progress.last_progress.get(name, now) if lag else 0.0
            stale = behind > self.stale_after_seconds
            PROJECTION_POSITION.labels(projection=name).set(position)
            PROJECTION_LAG_EVENTS.labels(projection=name).set(lag)
            PROJECTION_LAG_SECONDS.labels(projection=name).set(behind)
            report[name] = {"position": position, "lag_events": lag, "stale": stale}
            # Stopped at an event until an operator skips it: not ready, and saying where.
            failure = failures.get(name)
            failed = failure is not None and failure.gave_up and failure.position > position
            PROJECTION_FAILED.labels(projection=name).set(1 if failed else 0)
            if failed:
                assert failure is not None
                # Not the error: its text may quote user data, and this endpoint is public.
                report[name]["failed"] = {
                    "position": failure.position,
                    "event_type": failure.event_type,
                }
            report["ready"] = report["ready"] and not stale and not failed
        return report

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="projection-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _refresh_forever(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(REFRESH_INTERVAL_SECONDS)
