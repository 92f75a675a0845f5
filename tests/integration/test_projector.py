"""Projections on a real PostgreSQL: exactly once, resumable, equal to a rebuild."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from commands.application import PerpetuaApplication
from commands.messages import Actor, CreateTask, SignIn
from infra.database import EVENT_STORE_NAME, DatabaseAddress
from perpetua.wiring import build_views
from projections.task_list import TaskListProjection, TaskListView
from projectors.runner import ProjectionWorker
from tests.integration.support import (
    replay_into,
    task_rows,
    tracked_position,
    wait_until,
    write_history,
)

pytestmark = pytest.mark.integration


def start_projector(address: DatabaseAddress) -> subprocess.Popen[bytes]:
    url = f"postgresql://{address.user}:{address.password}@/{address.dbname}?host={address.host}&port={address.port}"
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [sys.executable, "-m", "perpetua", "projector"], env=env, stdout=subprocess.DEVNULL
    )


def test_projector_killed_mid_stream_resumes_to_the_same_table_as_a_rebuild(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    head = write_history(application, tasks=600)

    first = start_projector(fresh_database)
    try:
        wait_until(lambda: tracked_position(fresh_database) > 0)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    killed_at = tracked_position(fresh_database)
    assert killed_at < head, "the projector finished before it could be killed mid-stream"

    second = start_projector(fresh_database)
    try:
        wait_until(lambda: tracked_position(fresh_database) >= head)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)

    replay_into(fresh_database, application, "read_rebuilt")
    live, rebuilt = task_rows(fresh_database, "read"), task_rows(fresh_database, "read_rebuilt")
    assert len(live) == 600
    assert live == rebuilt


def test_an_applied_position_is_never_applied_twice(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    actor = Actor(application.sign_in(SignIn("dev", "a@example.com", "a@example.com", "A")).user.id)
    saved = application.create_task(CreateTask(actor=actor, title="once"))
    view = build_views(fresh_database, ["task_list"])["task_list"]
    assert isinstance(view, TaskListView)
    projection = TaskListProjection(view)
    notes = application.recorder.select_notifications(start=1, limit=100)
    events = [(application.mapper.to_domain_event(n), n.id) for n in notes]
    tracking = Tracking(EVENT_STORE_NAME, notes[-1].id)
    projection.process_batch(events, tracking)
    with pytest.raises(IntegrityError):
        projection.process_batch(events, tracking)
    rows = task_rows(fresh_database, "read")
    assert [(row["id"], row["title"]) for row in rows] == [(saved.aggregate.id, "once")]
    view.datastore.close()


def test_live_worker_applies_new_events_within_the_wait(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    view = build_views(fresh_database, ["task_list"])["task_list"]
    worker = ProjectionWorker(application, TaskListProjection(view))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        actor = Actor(
            application.sign_in(SignIn("dev", "b@example.com", "b@example.com", "B")).user.id
        )
        saved = application.create_task(CreateTask(actor=actor, title="live"))
        wait_until(lambda: (view.max_tracking_id(EVENT_STORE_NAME) or 0) >= saved.position, 10)
        assert [row["title"] for row in task_rows(fresh_database, "read")] == ["live"]
    finally:
        worker.stop()
        thread.join(timeout=10)
        view.datastore.close()
    assert not thread.is_alive()
