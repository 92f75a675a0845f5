"""One read of the store for every live projection of a process.

Each projection used to follow the store on a subscription of its own: ten LISTEN
connections, ten reads of every new event and ten decodes of it, on ten pairs of threads
fighting for one interpreter lock. The feed follows the store once, decodes each event once,
and hands the batch to every worker. Each worker still applies it in its own transaction with
its own tracking record, so projections stay independent: a worker that fails, or falls so far
behind that its backlog is full, leaves the feed and follows the store on a subscription of its
own from its tracking position, as every worker did before (`ProjectionWorker.run`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder

if TYPE_CHECKING:
    from projectors.runner import BatchingSubscription, ProjectionWorker

logger = logging.getLogger(__name__)

# Batches a worker may have waiting before it is left to follow the store on its own: a worker
# that is this far behind would hold the feed's memory for nothing.
BACKLOG_BATCHES = 64
RESTART_DELAY_SECONDS = 1.0


@dataclass(frozen=True)
class DecodedBatch:
    """Notifications in store order, with each one's domain event (or why it did not decode)."""

    notifications: Sequence[Notification]
    events: dict[int, Any]
    errors: dict[int, Exception]


class Subscriber:
    """A worker's end of the feed: its backlog, and whether it has left."""

    def __init__(self) -> None:
        self.backlog: queue.Queue[DecodedBatch | None] = queue.Queue(maxsize=BACKLOG_BATCHES)
        self.left = threading.Event()

    def offer(self, batch: DecodedBatch) -> None:
        if self.left.is_set():
            return
        try:
            self.backlog.put_nowait(batch)
        except queue.Full:
            self.left.set()  # the worker notices and follows on its own

    def close(self) -> None:
        self.left.set()
        # A full backlog means a busy worker: it sees `left` when it next looks.
        with contextlib.suppress(queue.Full):
            self.backlog.put_nowait(None)


class SharedFeed:
    def __init__(self, app: Application[Any], workers: Sequence[ProjectionWorker]) -> None:
        self.app = app
        self.workers = list(workers)
        self.subscribers = {worker.name: Subscriber() for worker in self.workers}
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._subscription: BatchingSubscription | None = None

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            if self._subscription is not None:
                self._subscription.stop()

    def run(self) -> None:
        """Follow the store until stopped; after an error (the database gone), start again
        from the earliest position a worker still on the feed has applied."""
        try:
            while not self._stopped.is_set():
                on_feed = [w for w in self.workers if not self.subscribers[w.name].left.is_set()]
                if not on_feed:
                    return
                try:
                    self._follow(min(worker.applied_position() for worker in on_feed))
                except Exception:
                    logger.exception("the projections' feed failed; restarting")
                    self._stopped.wait(RESTART_DELAY_SECONDS)
        finally:
            for subscriber in self.subscribers.values():
                subscriber.close()

    def _follow(self, start: int) -> None:
        from projectors.runner import BatchingSubscription  # the runner imports this module

        recorder = self.app.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        subscription = BatchingSubscription(recorder, gt=start)
        with self._lock:
            if self._stopped.is_set():
                subscription.stop()
            self._subscription = subscription
        with subscription:
            while True:
                try:
                    notifications = subscription.next_batch()
                except StopIteration:
                    return
                batch = self._decoded(notifications)
                for subscriber in self.subscribers.values():
                    subscriber.offer(batch)

    def _decoded(self, notifications: Sequence[Notification]) -> DecodedBatch:
        events: dict[int, Any] = {}
        errors: dict[int, Exception] = {}
        for note in notifications:
            try:
                events[note.id] = self.app.mapper.to_domain_event(note)
            except Exception as error:  # each worker reports it as its own failure
                errors[note.id] = error
        return DecodedBatch(notifications, events, errors)
