"""Helpers for integration tests that look at whole projection tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
from eventsourcing.persistence import Tracking
from psycopg import sql

from commands.application import PerpetuaApplication
from commands.messages import (
    Actor,
    ApplyBillingEvent,
    CompleteTask,
    CreateTask,
    SignIn,
    UpdateTask,
)
from infra.database import EVENT_STORE_NAME, DatabaseAddress
from perpetua.wiring import build_views
from projections.base import ReadModelProjection, ReadModelView, close_views
from projections.registry import PROJECTIONS
from projections.task_list import TaskListProjection, TaskListView
from projectors.runner import ProjectionWorker, run_workers

WAIT_SECONDS = 60
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


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


def pro_user(app: PerpetuaApplication, email: str) -> Actor:
    """A user subscribed to pro for as long as any test runs (no active-task limit)."""
    user_id = app.sign_in(SignIn("dev", email, email, "Pro")).user.id
    app.apply_billing_event(
        ApplyBillingEvent(f"evt_{uuid4().hex}", "subscription.activated", user_id, FAR_FUTURE)
    )
    return Actor(user_id)


def write_history(app: PerpetuaApplication, tasks: int) -> int:
    """Tasks created, renamed and some completed; returns the store head."""
    actor = pro_user(app, "load@example.com")
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
    assert isinstance(view, TaskListView)
    view.create_table()
    worker = ProjectionWorker(app, TaskListProjection(view))
    head = app.recorder.max_notification_id() or 0
    try:
        with in_thread(worker.run, worker.stop):
            wait_until(lambda: (view.max_tracking_id(EVENT_STORE_NAME) or 0) >= head)
    finally:
        view.datastore.close()


@contextmanager
def in_thread(run: Callable[[], object], stop: Callable[[], object]) -> Iterator[None]:
    """`run` on a thread of its own while the block runs; `stop` then ends it."""
    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield
    finally:
        stop()
        thread.join(timeout=20)


@contextmanager
def every_projection_running(
    address: DatabaseAddress,
    app: PerpetuaApplication,
    instead: Mapping[str, type[ReadModelProjection[Any]]] | None = None,
) -> Iterator[dict[str, ProjectionWorker]]:
    """Every projection following the store live, as `perpetua projector` runs them (with the
    projection classes `instead` given by name replacing the real ones)."""
    views = build_views(address)
    workers = {
        name: ProjectionWorker(app, (instead or {}).get(name, PROJECTIONS[name][0])(view))
        for name, view in views.items()
    }
    stop = threading.Event()
    try:
        with in_thread(lambda: run_workers(list(workers.values()), stop), stop.set):
            yield workers
    finally:
        close_views(views)


def position_of(worker: ProjectionWorker) -> int:
    return worker.projection.view.max_tracking_id(EVENT_STORE_NAME) or 0


def wait_for_all(workers: Iterable[ProjectionWorker], position: int) -> None:
    workers = list(workers)
    wait_until(lambda: all(position_of(worker) >= position for worker in workers))


def project(address: DatabaseAddress, app: PerpetuaApplication, names: list[str]) -> None:
    """Run the named projections live, as the projector does, until they reach the store head."""
    views = build_views(address, names)
    workers = [ProjectionWorker(app, PROJECTIONS[name][0](view)) for name, view in views.items()]
    head = app.recorder.max_notification_id() or 0
    stop = threading.Event()
    try:
        with in_thread(lambda: run_workers(workers, stop), stop.set):
            wait_until(
                lambda: all(
                    (v.max_tracking_id(EVENT_STORE_NAME) or 0) >= head for v in views.values()
                )
            )
    finally:
        close_views(views)


def table_rows(address: DatabaseAddress, table: str, order_by: str) -> list[dict[str, Any]]:
    """Every row of `read.<table>`, in a stable order, to compare whole tables."""
    with psycopg.connect(address.conninfo, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            sql.SQL("SELECT * FROM read.{} ORDER BY {}").format(
                sql.Identifier(table), sql.SQL(order_by)
            )
        ).fetchall()


def project_views(app: PerpetuaApplication, views: dict[str, ReadModelView]) -> None:
    """Bring the views up to the store's head, as their projector would (in one batch each)."""
    for name, view in views.items():
        projection = PROJECTIONS[name][0](view)
        start = view.max_tracking_id(app.name) or 0
        notifications = app.recorder.select_notifications(start=start + 1, limit=100_000)
        if notifications:
            events = [(app.mapper.to_domain_event(n), n.id) for n in notifications]
            projection.process_batch(events, Tracking(app.name, notifications[-1].id))


@contextmanager
def positions_seen(address: DatabaseAddress) -> Iterator[list[set[int]]]:
    """While the block runs, the tracking positions of every read model, read again and again
    in one statement each (one snapshot): each sample is the set of positions seen at once."""
    positions = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT notification_id FROM read.{} WHERE application_name = %(app)s").format(
            sql.Identifier(f"{name}_tracking")
        )
        for name in PROJECTIONS
    )
    seen: list[set[int]] = []
    done = threading.Event()

    def watch() -> None:
        with psycopg.connect(address.conninfo, autocommit=True) as conn:
            while not done.is_set():
                rows = conn.execute(positions, {"app": EVENT_STORE_NAME}).fetchall()
                if len(rows) == len(PROJECTIONS):  # each has tracked something
                    seen.append({row[0] for row in rows})

    with in_thread(watch, done.set):
        yield seen
