"""One read of the store for every live projection of a process.

Each projection used to follow the store on a subscription of its own: ten LISTEN
connections, ten reads of every new event and ten decodes of it, on ten pairs of threads
fighting for one interpreter lock. The feed follows the store once, decodes each event once,
and applies the batch for every worker in step with it in one transaction (each projection's
rows with its own tracking record: `projections.base.process_together`). Live, a batch is an
event or two, and a transaction per projection cost far more than the rows: a BEGIN, a tracking
upsert, a NOTIFY and a COMMIT, each waited for, ten times per event.

Projections stay independent where it matters. When the joint transaction fails (a projection's
handler raises, a lock is held for more than a second, the tracking moved under a rebuild),
nothing of it commits and the batch goes to each worker's own backlog instead; each applies it
in its own transaction, on its own thread, as before. A worker with a backlog is not in step and
gets the following batches the same way until it has caught up. A worker that fails, or falls
so far behind that its backlog is full, leaves the feed and follows the store on a subscription
of its own from its tracking position (`ProjectionWorker.run`). A database that goes away is
nobody's fault: the feed starts again once it is back, its workers still on it.
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
from eventsourcing.persistence import InterfaceError, Notification, OperationalError, Tracking
from eventsourcing.postgres import PostgresApplicationRecorder

from projections.base import JointPart, process_together

if TYPE_CHECKING:
    from projectors.runner import BatchingSubscription, ProjectionWorker

logger = logging.getLogger(__name__)

# Batches a worker may have waiting before it is left to follow the store on its own: a worker
# that is this far behind would hold the feed's memory for nothing.
BACKLOG_BATCHES = 64
RESTART_DELAY_SECONDS = 1.0
# SQLSTATEs of a database going away: class 08 (connection exception) and 57P01-57P03 (shut
# down, crashed, not accepting connections yet). A connection lost on the way has none.
_AWAY_SQLSTATES = ("08", "57P01", "57P02", "57P03")


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
        for worker in self.workers:
            worker.load_skips()  # before anything is applied for it here
        with subscription:
            handed_out = start
            while True:
                try:
                    notifications = subscription.next_batch()
                except StopIteration:
                    return
                self._hand_out(self._decoded(notifications), handed_out)
                handed_out = notifications[-1].id

    def _hand_out(self, batch: DecodedBatch, handed_out: int) -> None:
        """Apply `batch` together for the workers that applied everything handed out before
        it (`handed_out`) and have nothing waiting; offer it to the others' backlogs, and to
        all of them if applying it together failed."""
        in_step: dict[int, list[ProjectionWorker]] = {}  # by connection pool
        behind: list[ProjectionWorker] = []
        for worker in self.workers:
            subscriber = self.subscribers[worker.name]
            if subscriber.left.is_set():
                continue
            if subscriber.backlog.empty() and worker.applied_position() >= handed_out:
                in_step.setdefault(id(worker.projection.view.datastore), []).append(worker)
            else:
                behind.append(worker)
        for workers in in_step.values():
            if not self._applied_together(workers, batch):
                behind.extend(workers)
        for worker in behind:
            self.subscribers[worker.name].offer(batch)

    def _applied_together(self, workers: Sequence[ProjectionWorker], batch: DecodedBatch) -> bool:
        applied: list[tuple[ProjectionWorker, int]] = []
        try:
            parts: list[JointPart] = []
            for worker in workers:
                fresh = worker.unapplied(batch)
                if fresh:
                    tracking = Tracking(self.app.name, fresh[-1].id)
                    parts.append((worker.projection, worker.events_of(fresh, batch), tracking))
                    applied.append((worker, fresh[-1].id))
            if parts:
                process_together(parts)
        except Exception as error:
            if _database_away(error):
                # Nobody's fault: the feed starts again from where its workers are (`run`),
                # read from their tracking rows, in case the commit landed unacknowledged.
                for worker in workers:
                    worker.forget_applied_position()
                raise
            # Each worker applies the batch on its own next, and the one at fault says why.
            logger.debug(
                "positions %d..%d could not be applied together",
                batch.notifications[0].id,
                batch.notifications[-1].id,
                exc_info=True,
            )
            return False
        for worker, position in applied:
            worker.applied_with_others(position)
        return True

    def _decoded(self, notifications: Sequence[Notification]) -> DecodedBatch:
        events: dict[int, Any] = {}
        errors: dict[int, Exception] = {}
        for note in notifications:
            try:
                events[note.id] = self.app.mapper.to_domain_event(note)
            except Exception as error:  # each worker reports it as its own failure
                errors[note.id] = error
        return DecodedBatch(notifications, events, errors)


def _database_away(error: Exception) -> bool:
    """Whether `error` says the database could not be reached or dropped the connection (the
    library raises its own OperationalError or InterfaceError, the driver's error as the
    cause). PostgreSQL files some refusals of one statement under the same class (a lock not
    granted in time, a value over one of its limits): those carry a SQLSTATE of their own and
    are one projection's trouble, so the workers then apply the batch one by one."""
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    state: str | None = getattr(error.__cause__, "sqlstate", None)
    return state is None or state.startswith(_AWAY_SQLSTATES)
