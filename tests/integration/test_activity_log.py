"""The activity log is complete: every event of a user has its row, and auditors can export it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import psycopg
import pytest

from commands.application import PerpetuaApplication
from commands.messages import Actor, AddSubtask, CompleteTask, CreateTask, DeleteTask, SignIn
from infra.database import EVENT_STORE_NAME, DatabaseAddress
from perpetua.wiring import build_views
from projections.activity import ActivityProjection, ActivityView
from projectors.runner import ProjectionWorker
from tests.integration.support import wait_until

pytestmark = pytest.mark.integration


def test_every_event_of_each_user_has_exactly_one_row(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    users = []
    for name in ("ann", "ben"):
        user = application.sign_in(SignIn("dev", f"{name}@x.io", f"{name}@x.io", name)).user
        actor = Actor(user.id)
        task = application.create_task(CreateTask(actor=actor, title=f"{name}'s")).aggregate
        application.add_subtask(AddSubtask(actor, task.id, "step"))
        application.complete_task(CompleteTask(actor, task.id, force=True))
        application.delete_task(DeleteTask(actor, task.id))
        users.append(user.id)
    head = application.recorder.max_notification_id() or 0

    view = build_views(fresh_database, ["activity"])["activity"]
    assert isinstance(view, ActivityView)
    worker = ProjectionWorker(application, ActivityProjection(view))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: (view.max_tracking_id(EVENT_STORE_NAME) or 0) >= head)
    finally:
        worker.stop()
        thread.join(timeout=10)

    with psycopg.connect(fresh_database.conninfo) as conn:
        events = conn.execute("SELECT count(*) FROM events.perpetua_events").fetchone()
        rows = conn.execute(
            "SELECT user_id, count(*) FROM read.activity GROUP BY user_id ORDER BY user_id"
        ).fetchall()
    assert events is not None
    assert sum(count for _, count in rows) == events[0]
    assert {user for user, _ in rows} == set(users)

    address = fresh_database
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{address.user}:{address.password}@/{address.dbname}"
        f"?host={address.host}&port={address.port}",
        "LOG_LEVEL": "WARNING",
    }
    exported = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "perpetua", "audit", "export", "--user", str(users[0])],
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    lines = [json.loads(line) for line in exported.stdout.decode().splitlines()]
    assert len(lines) == dict(rows)[users[0]]
    assert lines[0]["action"] == "registered"
    view.datastore.close()
