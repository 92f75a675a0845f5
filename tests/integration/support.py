"""Helpers for integration tests that look at whole projection tables."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg import sql

from commands.application import PerpetuaApplication
from commands.messages import Actor, CompleteTask, CreateTask, SignIn, UpdateTask
from infra.database import EVENT_STORE_NAME, DatabaseAddress
from perpetua.wiring import build_views
from projections.task_list import TaskListProjection
from projectors.runner import ProjectionWorker

WAIT_SECONDS = 60


def task_rows(address: DatabaseAddress, schema: str) -> list[dict[str, Any]]:
    with psycopg.connect(address.conninfo, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            sql.SQL("SELECT * FROM {}.tasks ORDER BY id").format(sql.Identifier(schema))
        ).fetchall()


def tracked_position(address: DatabaseAddress, schema: str = "read") -> int:
    with psycopg.connect(address.conninfo) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT notification_id FROM {}.task_list_tracking WHERE application_name = %s"
            ).format(sql.Identifier(schema)),
            (EVENT_STORE_NAME,),
        ).fetchone()
    return int(row[0]) if row else 0


def wait_until(condition: Any, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def write_history(app: PerpetuaApplication, tasks: int) -> int:
    """Tasks created, renamed and some completed; returns the store head."""
    actor = Actor(
        app.sign_in(SignIn("dev", "load@example.com", "load@example.com", "L")).user.id,
        tier="pro",
    )
    ids = [
        app.create_task(CreateTask(actor=actor, title=f"task {n}")).aggregate.id
        for n in range(tasks)
    ]
    for number, task_id in enumerate(ids):
        app.update_task(
            UpdateTask(actor, task_id, version=1, changes={"title": f"renamed {number}"})
        )
        if number % 3 == 0:
            app.complete_task(CompleteTask(actor=actor, task_id=task_id))
    return app.recorder.max_notification_id() or 0


def replay_into(address: DatabaseAddress, app: PerpetuaApplication, schema: str) -> None:
    """Replay the whole store into fresh tables in `schema`, as an operator's rebuild would."""
    with psycopg.connect(address.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    view = build_views(address, ["task_list"], schema=schema)["task_list"]
    view.create_table()
    worker = ProjectionWorker(app, TaskListProjection(view))
    head = app.recorder.max_notification_id() or 0
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: (view.max_tracking_id(EVENT_STORE_NAME) or 0) >= head)
    finally:
        worker.stop()
        thread.join(timeout=10)
        view.datastore.close()
