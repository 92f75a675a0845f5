"""Run projections: catch up in batches, then follow the store live, until told to stop.

Each projection follows the library's LISTEN/NOTIFY subscription from its own tracking
position. Whatever the subscription has already pulled (up to 500 events) is applied in one
transaction with its tracking record, so a catch-up after downtime costs one commit per 500
events, and a crash at any point leaves rows and tracking agreeing with each other.

One bad event is one projection's problem: when a batch fails, it is applied again one event
per transaction, so everything before the bad event commits and the bad one is known by
position and type. That is logged once per retry and recorded in `read.projection_failures`
for `perpetua projections status`; the worker retries with back-off until the projection
(or whatever it depends on) is fixed. The other projections run in their own workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification, Tracking
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresSubscription

from projections.base import ReadModelProjection
from projections.failures import FAILED_AFTER_ATTEMPTS, ProjectionFailures
from projectors.feed import DecodedBatch, SharedFeed, Subscriber

logger = logging.getLogger(__name__)

RESTART_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0)
# A failed projection looks this often for an operator's skip of the event it is stuck on.
SKIP_POLL_SECONDS = 2.0


class BatchingSubscription(PostgresSubscription):
    """The library's subscription, handing out everything it has already pulled at once."""

    def next_batch(self) -> list[Notification]:
        first = next(self)  # blocks until there is something, raises StopIteration when stopped
        # The parent keeps the pulled page and an index into it (eventsourcing 9.5.x).
        rest = list(self._notifications[self._notifications_index :])
        self._notifications_index = len(self._notifications)
        return [first, *rest]


class EventFailedError(Exception):
    """The projection could not apply the event at `position`; the cause is chained."""

    def __init__(self, position: int, event_type: str, error: Exception) -> None:
        self.position = position
        self.event_type = event_type
        self.error = f"{type(error).__name__}: {error}"
        super().__init__(f"position {position} ({event_type}): {self.error}")


class ProjectionWorker:
    """Keeps one projection up to date; restarts its subscription after errors."""

    def __init__(
        self,
        app: Application[Any],
        projection: ReadModelProjection[Any],
        failures: ProjectionFailures | None = None,
    ) -> None:
        self.app = app
        self.projection = projection
        # By default the failures table beside the projection's own tables.
        self.failures = failures or ProjectionFailures(projection.view.datastore)
        self._stopped = threading.Event()
        self._subscription: BatchingSubscription | None = None
        self._lock = threading.Lock()
        # A failure may be on record from an earlier run: the first success clears it.
        self._failure_on_record = True
        # Positions an operator told this projection to pass over (perpetua projections skip).
        self._skipped: frozenset[int] = frozenset()
        # The position it keeps failing on, and how many times in a row.
        self._failing: tuple[int, int] = (0, 0)
        # The last position applied while on the shared feed (None: not read yet).
        self._applied: int | None = None

    @property
    def name(self) -> str:
        return self.projection.name

    def applied_position(self) -> int:
        """The last position this worker has applied (its tracking record, read once)."""
        if self._applied is None:
            self._applied = self.projection.view.max_tracking_id(self.app.name) or 0
        return self._applied

    def unapplied(self, batch: DecodedBatch) -> list[Notification]:
        """The notifications of a batch from the feed that this worker has not applied yet."""
        applied = self.applied_position()
        return [note for note in batch.notifications if note.id > applied]

    def forget_applied_position(self) -> None:
        """Read the applied position from the tracking row again when next asked."""
        self._applied = None

    def run_fed(self, subscriber: Subscriber) -> None:
        """Apply what the shared feed hands out (projectors/feed.py) until stopped. On any
        trouble (a failing event, tracking moved by a rebuild, a backlog too long) leave the
        feed and follow the store on a subscription of its own, which knows what to do."""
        try:
            # The feed read this worker's skips before it handed anything out.
            while not self._stopped.is_set() and not subscriber.left.is_set():
                batch = subscriber.backlog.get()
                if batch is None:
                    break
                fresh = self.unapplied(batch)
                if fresh:
                    self.apply(fresh, batch)
                    self._applied = fresh[-1].id
        except Exception:
            logger.info("projection %s leaves the shared feed", self.name, exc_info=True)
        finally:
            subscriber.left.set()
        self.run()

    def load_skips(self) -> None:
        """Read the positions an operator told this projection to pass over."""
        self._skipped = self.failures.skipped(self.name)

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            if self._subscription is not None:
                self._subscription.stop()

    def run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            try:
                self._follow()
                failures = 0
            except IntegrityError:
                # The tracking row is ahead of this subscription: a rebuild swapped in tables
                # that already hold these events. Nothing was applied; follow from there.
                logger.info("projection %s: tracking moved ahead; resubscribing", self.name)
            except EventFailedError as failure:
                delay = RESTART_BACKOFF_SECONDS[min(failures, len(RESTART_BACKOFF_SECONDS) - 1)]
                logger.error(
                    "projection %s failed at position %d (%s): %s; retrying in %ss",
                    self.name,
                    failure.position,
                    failure.event_type,
                    failure.error,
                    delay,
                    exc_info=failure.__cause__,
                )
                self._record(failure)
                failures += 1
                if self._count_attempt(failure.position) >= FAILED_AFTER_ATTEMPTS:
                    self._wait_for_skip(failure.position)
                else:
                    self._stopped.wait(delay)
            except Exception:
                delay = RESTART_BACKOFF_SECONDS[min(failures, len(RESTART_BACKOFF_SECONDS) - 1)]
                logger.exception("projection %s failed; restarting in %ss", self.name, delay)
                failures += 1
                self._stopped.wait(delay)

    def _count_attempt(self, position: int) -> int:
        previous, attempts = self._failing
        self._failing = (position, attempts + 1 if previous == position else 1)
        return self._failing[1]

    def _wait_for_skip(self, position: int) -> None:
        """Stop retrying an event that keeps failing: state `failed` until an operator skips
        it (or fixes the cause and restarts the projector). The others go on meanwhile."""
        logger.error(
            "projection %s failed: it stops at position %d until it is skipped"
            " (perpetua projections skip %s %d --reason ...)",
            self.name,
            position,
            self.name,
            position,
        )
        while not self._stopped.wait(SKIP_POLL_SECONDS):
            try:
                if position in self.failures.skipped(self.name):
                    logger.warning("projection %s: skipping position %d", self.name, position)
                    return
            except Exception:  # the database may be away: look again next round
                logger.warning("projection %s: could not read its skips", self.name, exc_info=True)

    def _follow(self) -> None:
        recorder = self.app.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        self.load_skips()
        start = self.projection.view.max_tracking_id(self.app.name)
        subscription = BatchingSubscription(recorder, gt=start)
        with self._lock:
            if self._stopped.is_set():
                subscription.stop()
            self._subscription = subscription
        with subscription:
            logger.info("projection %s following from position %s", self.name, start or 0)
            while True:
                try:
                    batch = subscription.next_batch()
                except StopIteration:
                    return
                self.apply(batch)

    def apply(self, batch: Sequence[Notification], decoded: DecodedBatch | None = None) -> None:
        """Apply the batch in one transaction (its events decoded already, if `decoded`)."""
        if not self._applied_whole(batch, decoded):
            # Nothing of the batch was committed. One event per transaction commits the events
            # before the one that fails, and names it.
            for note in batch:
                self._apply_one(note)
        if self._failure_on_record:
            self._clear(batch[-1].id)

    def events_of(
        self, batch: Sequence[Notification], decoded: DecodedBatch | None = None
    ) -> list[tuple[Any, int]]:
        """The batch's domain events with their positions, but those an operator skipped
        (a skipped event may not even decode)."""
        return [
            (self._event_of(note, decoded), note.id)
            for note in batch
            if note.id not in self._skipped
        ]

    def applied_with_others(self, position: int) -> None:
        """The shared feed applied this projection up to `position`, together with others."""
        self._applied = position
        if self._failure_on_record:
            self._clear(position)

    def _applied_whole(self, batch: Sequence[Notification], decoded: DecodedBatch | None) -> bool:
        try:
            events = self.events_of(batch, decoded)
            self.projection.process_batch(events, Tracking(self.app.name, batch[-1].id))
        except IntegrityError:
            raise  # the tracking row moved ahead (a rebuild): not this batch's fault
        except Exception:
            # The event-by-event retry logs what matters: which event, and why.
            logger.debug(
                "projection %s could not apply positions %d..%d as one batch",
                self.name,
                batch[0].id,
                batch[-1].id,
                exc_info=True,
            )
            return False
        return True

    def _event_of(self, note: Notification, decoded: DecodedBatch | None) -> Any:
        if decoded is not None and note.id in decoded.events:
            return decoded.events[note.id]
        return self.app.mapper.to_domain_event(note)

    def _apply_one(self, note: Notification) -> None:
        tracking = Tracking(self.app.name, note.id)
        if note.id in self._skipped:
            self.projection.process_batch([], tracking)  # passed over, but tracked
            return
        # The topic names the class even when the event no longer decodes.
        event_type = note.topic.rpartition(":")[2]
        try:
            event = self.app.mapper.to_domain_event(note)
            self.projection.process_batch([(event, note.id)], tracking)
        except IntegrityError:
            raise
        except Exception as error:
            raise EventFailedError(note.id, event_type, error) from error

    def _record(self, failure: EventFailedError) -> None:
        self._failure_on_record = True
        try:
            self.failures.record(self.name, failure.position, failure.event_type, failure.error)
        except Exception:  # the database may be what failed; the log has it either way
            logger.warning("projection %s: could not record its failure", self.name, exc_info=True)

    def _clear(self, applied: int) -> None:
        self._failure_on_record = False
        try:
            self.failures.clear(self.name, applied)
        except Exception:
            # Harmless if it stays: status ignores a failure the projection has applied past.
            logger.warning("projection %s: could not clear its failure", self.name, exc_info=True)


def run_workers(workers: Sequence[ProjectionWorker], stop: threading.Event) -> None:
    """Run every worker in its own thread, fed by one read of the store, until `stop` is set;
    then stop them all."""
    if not workers:
        stop.wait()
        return
    feed = SharedFeed(workers[0].app, workers)
    threads = [
        threading.Thread(
            target=w.run_fed, args=(feed.subscribers[w.name],), name=f"projection-{w.name}"
        )
        for w in workers
    ]
    threads.append(threading.Thread(target=feed.run, name="projection-feed"))
    for thread in threads:
        thread.start()
    stop.wait()
    for worker in workers:
        worker.stop()
    feed.stop()
    for thread in threads:
        thread.join(timeout=10)
