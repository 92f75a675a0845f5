"""Answered pages kept in memory, for as long as nothing can have changed them.

A client polls its list far more often than the list changes. An entry is the answer a read
gave (body, ETag) and the projection position its rows reflect. It is served again only while

* the process knows of no position past it: `ProjectionProgress` learns every position the
  projector commits from its NOTIFY within milliseconds, and any later position may have
  changed the rows (invalidation is global: a NOTIFY says how far a projection got, not whose
  rows it touched), and
* it is younger than `max_age`: a NOTIFY that never arrived (a lost listener connection, a
  rebuild swapping tables in at the same position) cannot make it stale for longer.

The key holds the owner, so an entry never answers another user; the route looks it up only
after the token was checked. Bounded: the oldest entry goes first when it is full.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedAnswer:
    """What a read answered: its JSON body, ETag and the position its rows reflect."""

    content: bytes
    etag: str
    position: int
    # When the rows were read (before the query started), on the cache's clock.
    read_at: float


class PageCache:
    def __init__(
        self,
        size: int,
        max_age: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.max_age = max_age
        self.clock = clock
        self._entries: OrderedDict[Hashable, CachedAnswer] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.size > 0 and self.max_age > 0

    def get(self, key: Hashable, known_position: int) -> CachedAnswer | None:
        """The answer kept under `key`, if nothing past its position is known and it is fresh."""
        answer = self._entries.get(key)
        if answer is None:
            return None
        if known_position > answer.position or self.clock() - answer.read_at >= self.max_age:
            del self._entries[key]
            return None
        return answer

    def put(self, key: Hashable, answer: CachedAnswer, known_position: int) -> None:
        """Keep `answer`, unless the process already knows of a position past its rows."""
        if not self.enabled or known_position > answer.position:
            return
        self._entries[key] = answer
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
