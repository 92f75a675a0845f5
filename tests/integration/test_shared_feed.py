"""The live projections share one read of the store (projectors/feed.py): a projection that
stalls holds nobody up, and catches up on its own once it can."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from commands.application import PerpetuaApplication
from commands.messages import Actor, CreateTask, SignIn
from infra.database import DatabaseAddress
from projections.base import ViewSession
from projections.task_list import TaskListProjection
from projectors import feed
from tests.integration.support import (
    every_projection_running,
    position_of,
    task_rows,
    wait_for_all,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_a_stalled_projection_holds_nobody_up_and_catches_up_on_its_own(
    fresh_database: DatabaseAddress,
    application: PerpetuaApplication,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A backlog of two batches: the stalled projection overflows it within a few commands.
    monkeypatch.setattr(feed, "BACKLOG_BATCHES", 2)
    released = threading.Event()

    class StalledTaskList(TaskListProjection):
        name = TaskListProjection.name

        def apply(self, domain_event: Any, session: ViewSession) -> None:
            released.wait(timeout=60)
            super().apply(domain_event, session)

    alice = Actor(application.sign_in(SignIn("dev", "a@example.com", "a@example.com", "A")).user.id)
    with every_projection_running(
        fresh_database, application, instead={"task_list": StalledTaskList}
    ) as workers:
        others = [worker for name, worker in workers.items() if name != "task_list"]
        for number in range(6):
            application.create_task(CreateTask(actor=alice, title=f"task {number}"))
            head = application.recorder.max_notification_id() or 0
            # One batch per command: each is offered to the stalled worker's backlog.
            wait_for_all(others, head)
        assert position_of(workers["task_list"]) < head

        released.set()
        wait_until(lambda: position_of(workers["task_list"]) >= head)
        wait_for_all(workers.values(), head)

    titles = sorted(row["title"] for row in task_rows(fresh_database, "read"))
    assert titles == [f"task {number}" for number in range(6)]
