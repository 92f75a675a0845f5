"""The read API is not ready while a projection lags and stands still."""

from __future__ import annotations

import asyncio
import time

from readapi.consistency import ProjectionProgress
from readapi.health import ProjectionHealth


def health(head: int, position: int, idle_seconds: float) -> dict[str, object]:
    progress = ProjectionProgress("unused", lambda: {"task_list": position})
    checker = ProjectionHealth(progress, ["task_list"], lambda: head, stale_after_seconds=60)

    async def check() -> dict[str, object]:
        await progress.refresh()
        progress.last_progress["task_list"] = time.monotonic() - idle_seconds
        return await checker.check()

    return asyncio.run(check())


def test_caught_up_is_ready_however_long_it_has_been_quiet() -> None:
    assert health(head=10, position=10, idle_seconds=3600)["ready"] is True


def test_lagging_but_moving_is_ready() -> None:
    report = health(head=10, position=7, idle_seconds=5)
    assert report["ready"] is True
    assert report["task_list"] == {"position": 7, "lag_events": 3, "stale": False}


def test_lagging_and_stuck_is_not_ready() -> None:
    report = health(head=10, position=7, idle_seconds=120)
    assert report["ready"] is False
    assert report["task_list"] == {"position": 7, "lag_events": 3, "stale": True}
