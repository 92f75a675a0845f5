"""One bad event is one projection's problem: it fails there, says so, and the rest go on."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from aggregates.task import Task
from commands.application import PerpetuaApplication
from commands.messages import Actor, CreateTask, SignIn
from infra.database import DatabaseAddress
from perpetua.wiring import build_views, failures_beside
from projections.base import ReadModelProjection, ViewSession, close_views
from projections.task_list import TaskListProjection
from projectors.status import ProjectionStatus, projection_statuses
from tests.integration.support import (
    every_projection_running,
    position_of,
    wait_for_all,
    wait_until,
)

pytestmark = pytest.mark.integration

POISON = "poison"


def task_list_failing_on_poison(healed: threading.Event) -> type[ReadModelProjection[Any]]:
    """The real task list, except that it cannot apply a task titled `poison` until healed."""

    class FailingTaskList(TaskListProjection):
        name = TaskListProjection.name

        def apply(self, domain_event: Any, session: ViewSession) -> None:
            poisoned = isinstance(domain_event, Task.Created) and domain_event.title == POISON
            if poisoned and not healed.is_set():
                raise RuntimeError("this build cannot show [poison] tasks")
            super().apply(domain_event, session)

    return FailingTaskList


def status_of(address: DatabaseAddress, app: PerpetuaApplication, name: str) -> ProjectionStatus:
    views = build_views(address)
    try:
        failures = failures_beside(views).all()
        statuses = projection_statuses(app, views, failures, datetime.now(tz=UTC))
    finally:
        close_views(views)
    return next(status for status in statuses if status.name == name)


def failures_on_record(address: DatabaseAddress) -> list[str]:
    with psycopg.connect(address.conninfo) as conn:
        return [row[0] for row in conn.execute("SELECT projection FROM read.projection_failures")]


def perpetua_status(address: DatabaseAddress, *options: str) -> str:
    url = (
        f"postgresql://{address.user}:{address.password}@/{address.dbname}"
        f"?host={address.host}&port={address.port}"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "perpetua", "projections", "status", *options],
        env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "COLUMNS": "200"},
        capture_output=True,
        check=True,
        timeout=120,
        text=True,
    )
    return result.stdout


def position_of_created(app: PerpetuaApplication, title: str) -> int:
    for note in app.recorder.select_notifications(start=1, limit=1000):
        event = app.mapper.to_domain_event(note)
        if isinstance(event, Task.Created) and event.title == title:
            return note.id
    raise AssertionError(f"no task {title!r} in the store")


def task_titles(address: DatabaseAddress) -> list[str]:
    with psycopg.connect(address.conninfo) as conn:
        return [row[0] for row in conn.execute("SELECT title FROM read.tasks ORDER BY title")]


def test_a_projection_failing_on_one_event_is_reported_while_the_others_go_on_and_it_recovers(
    fresh_database: DatabaseAddress,
    application: PerpetuaApplication,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="projectors.runner")
    alice = Actor(application.sign_in(SignIn("dev", "a@example.com", "a@example.com", "A")).user.id)
    for title in ("before", POISON, "after"):
        application.create_task(CreateTask(actor=alice, title=title))
    poison_at = position_of_created(application, POISON)
    healed = threading.Event()
    failing = task_list_failing_on_poison(healed)

    with every_projection_running(
        fresh_database, application, instead={"task_list": failing}
    ) as workers:
        others = [worker for name, worker in workers.items() if name != "task_list"]
        wait_for_all(others, application.recorder.max_notification_id() or 0)
        wait_until(lambda: status_of(fresh_database, application, "task_list").state == "failing")

        status = status_of(fresh_database, application, "task_list")
        assert (status.failing_position, status.failing_event_type) == (poison_at, "Task.Created")
        assert status.error == "RuntimeError: this build cannot show [poison] tasks"
        assert status.attempts >= 1
        # Applied one by one, everything before the bad event is in.
        assert position_of(workers["task_list"]) == poison_at - 1
        assert task_titles(fresh_database) == ["before"]
        failure_logs = [r.getMessage() for r in caplog.records if "failed at position" in r.msg]
        assert f"failed at position {poison_at} (Task.Created)" in failure_logs[0]

        # Another process (the operator's CLI) sees the same, in both forms.
        reported = {s["name"]: s for s in json.loads(perpetua_status(fresh_database, "--json"))}
        assert reported["task_list"]["state"] == "failing"
        assert reported["task_list"]["failing_position"] == poison_at
        assert reported["task_list"]["failing_event_type"] == "Task.Created"
        assert reported["activity"]["state"] == "up to date"
        human = perpetua_status(fresh_database)
        assert f"task_list cannot apply position {poison_at} (Task.Created)" in human
        assert "[poison]" in human

        # Writes made meanwhile reach every other projection.
        bob = Actor(
            application.sign_in(SignIn("dev", "b@example.com", "b@example.com", "B")).user.id
        )
        later = application.create_task(CreateTask(actor=bob, title="later")).position
        wait_for_all(others, later)
        assert position_of(workers["task_list"]) < poison_at

        healed.set()
        wait_for_all(workers.values(), later)
        assert task_titles(fresh_database) == ["after", "before", "later", POISON]
        recovered = status_of(fresh_database, application, "task_list")
        assert (recovered.state, recovered.failing_position) == ("up to date", None)
        wait_until(lambda: failures_on_record(fresh_database) == [])


def test_an_event_that_no_longer_decodes_stops_every_projection_there_and_status_says_so(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    application.sign_in(SignIn("dev", "c@example.com", "c@example.com", "C"))
    # What a deleted event class leaves behind: a topic that no longer resolves.
    application.recorder.insert_events(
        [StoredEvent(uuid.uuid4(), 1, "aggregates.task:Task.Vanished", b"{}")]
    )
    vanished_at = application.recorder.max_notification_id()

    with every_projection_running(fresh_database, application) as workers:
        wait_until(
            lambda: (
                {status_of(fresh_database, application, name).state for name in workers}
                == {"failing"}
            )
        )
        for name in workers:
            status = status_of(fresh_database, application, name)
            assert (status.failing_position, status.failing_event_type) == (
                vanished_at,
                "Task.Vanished",
            )
            assert status.position == vanished_at - 1
