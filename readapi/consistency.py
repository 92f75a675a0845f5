"""Read-your-writes: know each projection's position, and wait for one cheaply.

Projectors NOTIFY the new position on commit; one LISTEN connection per read API process
wakes every waiting request within milliseconds. NOTIFY is only a wake-up: if one is missed
(reconnect, restart), waiters fall back to reading the tracking tables every `poll_interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

import psycopg
from fastapi.concurrency import run_in_threadpool

from projections.base import PROGRESS_CHANNEL

logger = logging.getLogger(__name__)

RECONNECT_DELAY_SECONDS = 1.0


class ProjectionProgress:
    def __init__(
        self,
        conninfo: str,
        read_positions: Callable[[], dict[str, int]],
        *,
        poll_interval: float = 0.2,
    ) -> None:
        self._conninfo = conninfo
        self._read_positions = read_positions
        self._poll_interval = poll_interval
        self.positions: dict[str, int] = {}
        # When each projection was last seen moving (or caught up): for readiness.
        self.last_progress: dict[str, float] = {}
        self._changed = asyncio.Condition()
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._listener = asyncio.create_task(self._listen(), name="projection-progress")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def refresh(self) -> None:
        """Read every position from the tracking tables (the truth NOTIFY only hints at)."""
        try:
            positions = await run_in_threadpool(self._read_positions)
        except Exception:
            logger.warning("could not read projection positions", exc_info=True)
            return
        await self._advance(positions)

    async def wait_for(self, names: Iterable[str], position: int, timeout: float) -> bool:
        """True once every named projection has processed `position`; False on timeout."""
        names = tuple(names)
        deadline = time.monotonic() + timeout
        while True:
            # Checked under the condition's lock, so an advance can't slip in unnoticed
            # between the check and the wait.
            async with self._changed:
                if self._reached(names, position):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait(), timeout=min(remaining, self._poll_interval)
                    )
                    continue
            # No NOTIFY for a while: read the tracking tables in case one was missed.
            await self.refresh()
        await self.refresh()
        return self._reached(names, position)

    def position_of(self, names: Iterable[str]) -> int:
        return min((self.positions.get(name, 0) for name in names), default=0)

    def _reached(self, names: tuple[str, ...], position: int) -> bool:
        return all(self.positions.get(name, 0) >= position for name in names)

    async def _advance(self, positions: dict[str, int]) -> None:
        moved = False
        now = time.monotonic()
        for name, position in positions.items():
            if position > self.positions.get(name, -1):
                self.positions[name] = position
                self.last_progress[name] = now
                moved = True
        if moved:
            async with self._changed:
                self._changed.notify_all()

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {PROGRESS_CHANNEL}")
                    # Anything committed before LISTEN took effect was not announced.
                    await self.refresh()
                    async for notify in conn.notifies():
                        await self._advance(_parse(notify.payload))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("projection progress listener lost; reconnecting", exc_info=True)
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)


def _parse(payload: str) -> dict[str, int]:
    name, _, position = payload.rpartition(":")
    try:
        return {name: int(position)}
    except ValueError:
        return {}
