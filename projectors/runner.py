"""Run projections: catch up in batches, then follow the store live, until told to stop.

Each projection follows the library's LISTEN/NOTIFY subscription from its own tracking
position. Whatever the subscription has already pulled (up to 500 events) is applied in one
transaction with its tracking record, so a catch-up after downtime costs one commit per 500
events, and a crash at any point leaves rows and tracking agreeing with each other.
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

logger = logging.getLogger(__name__)

RESTART_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0)


class BatchingSubscription(PostgresSubscription):
    """The library's subscription, handing out everything it has already pulled at once."""

    def next_batch(self) -> list[Notification]:
        first = next(self)  # blocks until there is something, raises StopIteration when stopped
        # The parent keeps the pulled page and an index into it (eventsourcing 9.5.x).
        rest = list(self._notifications[self._notifications_index :])
        self._notifications_index = len(self._notifications)
        return [first, *rest]


class ProjectionWorker:
    """Keeps one projection up to date; restarts its subscription after transient errors."""

    def __init__(self, app: Application[Any], projection: ReadModelProjection[Any]) -> None:
        self.app = app
        self.projection = projection
        self._stopped = threading.Event()
        self._subscription: BatchingSubscription | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.projection.name

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
            except Exception:
                delay = RESTART_BACKOFF_SECONDS[min(failures, len(RESTART_BACKOFF_SECONDS) - 1)]
                logger.exception("projection %s failed; restarting in %ss", self.name, delay)
                failures += 1
                self._stopped.wait(delay)

    def _follow(self) -> None:
        recorder = self.app.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
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

    def apply(self, batch: Sequence[Notification]) -> None:
        try:
            events = [(self.app.mapper.to_domain_event(note), note.id) for note in batch]
            self.projection.process_batch(events, Tracking(self.app.name, batch[-1].id))
        except IntegrityError:
            raise  # the tracking row moved ahead (a rebuild): not this batch's fault
        except Exception:
            # Nothing of the batch was committed; say where, so an operator can look.
            logger.error(
                "projection %s could not apply positions %d..%d",
                self.name,
                batch[0].id,
                batch[-1].id,
            )
            raise


def run_workers(workers: Sequence[ProjectionWorker], stop: threading.Event) -> None:
    """Run every worker in its own thread until `stop` is set, then stop them all."""
    threads = [threading.Thread(target=w.run, name=f"projection-{w.name}") for w in workers]
    for thread in threads:
        thread.start()
    stop.wait()
    for worker in workers:
        worker.stop()
    for thread in threads:
        thread.join(timeout=10)
