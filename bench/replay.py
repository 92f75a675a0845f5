"""Catch-up speed: batched replay (500 events per transaction) vs one transaction per event.

The same store is replayed twice into fresh task-list tables in the same run: once the way the
projector catches up (`process_batch` on whole pages), once event by event the way the
library's ProjectionRunner applies them (`process_event`, a transaction each).

    DATABASE_URL=postgresql://... .venv/bin/python -m bench.replay [TASKS]

Without DATABASE_URL an embedded PostgreSQL is started in a temporary directory.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from eventsourcing.persistence import Tracking
from psycopg import sql

from bench.read_your_writes import create_database, drop_database
from commands.application import PerpetuaApplication
from commands.messages import Actor, CreateTask, SignIn, UpdateTask
from infra.database import DatabaseAddress, resolve_database
from infra.settings import Settings
from perpetua.wiring import build_application, build_views, prepare_database
from projections.task_list import TaskListProjection, TaskListView

BATCH = 500


def fill(app: PerpetuaApplication, tasks: int) -> int:
    user = app.sign_in(SignIn("dev", "bench@example.com", "bench@example.com", "B")).user
    actor = Actor(user.id, tier="pro")
    for number in range(tasks):
        task = app.create_task(CreateTask(actor=actor, title=f"task {number}")).aggregate
        app.update_task(UpdateTask(actor, task.id, version=1, changes={"title": f"t{number}"}))
    return app.recorder.max_notification_id() or 0


def replay(app: PerpetuaApplication, address: DatabaseAddress, schema: str, batched: bool) -> float:
    with psycopg.connect(address.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    view = build_views(address, ["task_list"], schema=schema)["task_list"]
    assert isinstance(view, TaskListView)
    view.create_table()
    projection = TaskListProjection(view)
    started = time.perf_counter()
    position = 0
    while notes := app.recorder.select_notifications(
        start=position, limit=BATCH, inclusive_of_start=False
    ):
        events = [(app.mapper.to_domain_event(n), n.id) for n in notes]
        if batched:
            projection.process_batch(events, Tracking(app.name, notes[-1].id))
        else:
            for event, event_position in events:
                projection.process_event(event, Tracking(app.name, event_position))
        position = notes[-1].id
    elapsed = time.perf_counter() - started
    view.datastore.close()
    return elapsed


def main() -> None:
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    url = os.environ.get("PERPETUA_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        server = resolve_database(url, Path(tmp) / "pgdata")
        address = create_database(server)
        try:
            prepare_database(address)
            app = build_application(Settings(), address)
            events = fill(app, tasks)
            per_event = replay(app, address, "bench_per_event", batched=False)
            batched = replay(app, address, "bench_batched", batched=True)
            app.close()
        finally:
            drop_database(server, address)
    print(f"events replayed: {events}")
    print(f"one transaction per event: {per_event:6.2f} s  ({events / per_event:8.0f} events/s)")
    print(f"{BATCH} events per transaction: {batched:6.2f} s  ({events / batched:8.0f} events/s)")
    print(f"ratio (per-event time / batched time): {per_event / batched:.1f}x")


if __name__ == "__main__":
    main()
