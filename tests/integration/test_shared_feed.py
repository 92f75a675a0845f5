"""The live projections share one read of the store, applied for all of them in one transaction
(projectors/feed.py): they move together, and one that stalls holds nobody up for long and
catches up on its own once it can."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from commands.application import PerpetuaApplication
from commands.messages import Actor, CreateTask, SignIn
from infra.database import DatabaseAddress
from projections.base import ViewSession
from projections.tombstones import TombstonesProjection
from projectors import feed
from tests.integration.support import (
    every_projection_running,
    position_of,
    positions_seen,
    task_rows,
    wait_for_all,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_a_projection_stalled_on_a_lock_holds_nobody_up_and_catches_up_on_its_own(
    fresh_database: DatabaseAddress,
    application: PerpetuaApplication,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A backlog of two batches: the stalled projection overflows it within a few commands.
    monkeypatch.setattr(feed, "BACKLOG_BATCHES", 2)
    alice = Actor(application.sign_in(SignIn("dev", "a@example.com", "a@example.com", "A")).user.id)
    with every_projection_running(fresh_database, application) as workers:
        wait_for_all(workers.values(), application.recorder.max_notification_id() or 0)
        others = [worker for name, worker in workers.items() if name != "task_list"]
        # An analyst's transaction that keeps the task list from being written (reads go on).
        with psycopg.connect(fresh_database.conninfo) as analyst:
            analyst.execute("LOCK TABLE read.tasks IN SHARE MODE")
            for number in range(6):
                application.create_task(CreateTask(actor=alice, title=f"task {number}"))
                head = application.recorder.max_notification_id() or 0
                # One batch per command: the first waits for the lock a second at most.
                wait_for_all(others, head)
            assert position_of(workers["task_list"]) < head
            analyst.rollback()

        wait_until(lambda: position_of(workers["task_list"]) >= head)
        wait_for_all(workers.values(), head)

    titles = sorted(row["title"] for row in task_rows(fresh_database, "read"))
    assert titles == [f"task {number}" for number in range(6)]


def test_projections_in_step_move_together(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    """Whoever reads several read models at one instant sees them at one position: what a
    batch changes in each commits in one transaction."""
    alice = Actor(application.sign_in(SignIn("dev", "b@example.com", "b@example.com", "B")).user.id)
    with every_projection_running(fresh_database, application) as workers:
        wait_for_all(workers.values(), application.recorder.max_notification_id() or 0)
        with positions_seen(fresh_database) as seen:
            for number in range(20):
                application.create_task(CreateTask(actor=alice, title=f"task {number}"))
            wait_for_all(workers.values(), application.recorder.max_notification_id() or 0)

    assert seen
    assert [sample for sample in seen if len(sample) > 1] == []


def test_a_projection_refused_by_a_database_limit_holds_nobody_up(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    """PostgreSQL files some refusals of one statement (a value over one of its limits) under
    the same error class as a lost connection: that must not pass for the database going away,
    or the feed would retry the batch for every projection forever."""

    class OverALimit(TombstonesProjection):
        name = TombstonesProjection.name

        def apply(self, domain_event: Any, session: ViewSession) -> None:
            if getattr(domain_event, "title", None) == "over a limit":
                session.execute(b"SELECT repeat('x', 1073741824)", ())  # SQLSTATE 54000
            super().apply(domain_event, session)

    alice = Actor(application.sign_in(SignIn("dev", "c@example.com", "c@example.com", "C")).user.id)
    with every_projection_running(
        fresh_database, application, instead={"tombstones": OverALimit}
    ) as workers:
        for title in ("before", "over a limit", "after"):
            application.create_task(CreateTask(actor=alice, title=title))
        head = application.recorder.max_notification_id() or 0
        wait_for_all([worker for name, worker in workers.items() if name != "tombstones"], head)
        assert position_of(workers["tombstones"]) < head
