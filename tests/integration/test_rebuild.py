"""Blue/green rebuild: replay into fresh tables while reads and writes go on, then swap."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from commands.application import PerpetuaApplication
from commands.messages import Actor, CreateTask, SignIn
from infra.database import EVENT_STORE_NAME, DatabaseAddress
from perpetua.wiring import build_views
from projections.registry import PROJECTIONS
from projections.task_list import TaskListProjection, TaskListQuery, TaskListView
from projections.tombstones import TombstonesProjection, TombstonesView
from projectors import rebuild as rebuild_module
from projectors.rebuild import REBUILD_LOCK_CLASS, RebuildInProgressError, rebuild
from projectors.runner import ProjectionWorker
from tests.integration.support import (
    in_thread,
    replay_into,
    task_rows,
    tracked_position,
    wait_until,
    write_history,
)

pytestmark = pytest.mark.integration


@contextmanager
def live_projector(address: DatabaseAddress, app: PerpetuaApplication) -> Iterator[TaskListView]:
    view = build_views(address, ["task_list"])["task_list"]
    assert isinstance(view, TaskListView)
    worker = ProjectionWorker(app, TaskListProjection(view))
    try:
        with in_thread(worker.run, worker.stop):
            yield view
    finally:
        view.datastore.close()


def test_rebuild_swaps_in_equal_tables_while_reads_and_writes_go_on(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    head = write_history(application, tasks=150)
    owner = Actor(
        application.sign_in(SignIn("dev", "live@example.com", "live@example.com", "L")).user.id,
        tier="pro",
    )
    with live_projector(fresh_database, application) as live:
        wait_until(lambda: tracked_position(fresh_database) >= head)
        stop = threading.Event()
        read_errors: list[BaseException] = []
        reads = 0

        def keep_reading() -> None:
            nonlocal reads
            while not stop.is_set():
                try:
                    live.list_tasks(TaskListQuery(owner_id=owner.user_id), EVENT_STORE_NAME)
                    reads += 1
                except BaseException as error:  # any failure is what this test looks for
                    read_errors.append(error)

        def keep_writing() -> None:
            for number in range(40):
                application.create_task(CreateTask(actor=owner, title=f"during {number}"))

        reader = threading.Thread(target=keep_reading)
        writer = threading.Thread(target=keep_writing)
        reader.start()
        writer.start()
        positions: list[int] = []
        report = rebuild(
            application,
            fresh_database,
            TaskListProjection,
            TaskListView,
            on_progress=lambda position, _head: positions.append(position),
        )
        writer.join(timeout=60)
        final_head = application.recorder.max_notification_id() or 0
        wait_until(lambda: tracked_position(fresh_database) >= final_head)
        stop.set()
        reader.join(timeout=10)

    assert read_errors == []
    assert reads > 0
    assert positions == sorted(positions)
    assert report.position >= head
    replay_into(fresh_database, application, "read_check")
    assert task_rows(fresh_database, "read") == task_rows(fresh_database, "read_check")
    assert len(task_rows(fresh_database, "read")) == 190
    with psycopg.connect(fresh_database.conninfo) as conn:
        leftovers = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild_%'"
            " OR nspname LIKE 'retired_%'"
        ).fetchall()
    assert leftovers == []


def test_rebuild_of_an_empty_or_missing_read_model_creates_it(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    head = write_history(application, tasks=5)
    with psycopg.connect(fresh_database.conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE read.tombstones, read.tombstones_tracking")
    report = rebuild(application, fresh_database, TombstonesProjection, TombstonesView)
    assert report.position == head
    view = build_views(fresh_database, ["tombstones"])["tombstones"]
    assert view.max_tracking_id(EVENT_STORE_NAME) == head
    view.datastore.close()


def test_a_second_rebuild_of_the_same_projection_is_refused(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    with psycopg.connect(fresh_database.conninfo, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, hashtext('task_list'))", (REBUILD_LOCK_CLASS,))
        with pytest.raises(RebuildInProgressError):
            rebuild(application, fresh_database, TaskListProjection, TaskListView)


def test_cli_reports_status_and_rebuilds(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    head = write_history(application, tasks=10)
    a = fresh_database
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{a.user}:{a.password}@/{a.dbname}?host={a.host}&port={a.port}",
        "LOG_LEVEL": "WARNING",
    }

    def perpetua(*args: str) -> object:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "perpetua", *args, "--json"],
            env=env,
            capture_output=True,
            check=True,
            timeout=120,
        )
        return json.loads(result.stdout)

    before = {s["name"]: s for s in perpetua("projections", "status")}  # type: ignore[attr-defined]
    assert before["task_list"]["state"] == "behind"
    assert before["task_list"]["lag_events"] == head
    rebuilt = perpetua("projections", "rebuild", "task_list")
    assert rebuilt == [{"projection": "task_list", "position": head, "events": head}]
    after = {s["name"]: s for s in perpetua("projections", "status")}  # type: ignore[attr-defined]
    assert (after["task_list"]["position"], after["task_list"]["state"]) == (head, "up to date")
    assert after["tombstones"]["state"] == "behind"


def test_a_rebuild_whose_read_of_the_store_breaks_changes_nothing_and_can_run_again(
    fresh_database: DatabaseAddress,
    application: PerpetuaApplication,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    head = write_history(application, tasks=30)
    collector = (gc.get_threshold(), gc.get_freeze_count())
    rebuild(application, fresh_database, TaskListProjection, TaskListView)
    before = task_rows(fresh_database, "read")
    monkeypatch.setattr(rebuild_module, "BATCH_SIZE", 10)  # many pages

    def cut_the_store_reader(position: int, store_head: int) -> None:
        # After the first page: the connection reading the pages ahead is killed.
        with psycopg.connect(fresh_database.conninfo, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                (rebuild_module.STORE_PAGES_CONNECTION,),
            )

    with pytest.raises(psycopg.OperationalError):
        rebuild(
            application,
            fresh_database,
            TaskListProjection,
            TaskListView,
            on_progress=cut_the_store_reader,
        )
    assert task_rows(fresh_database, "read") == before
    # The cycle collector, tuned for each replay, is as it was (this process goes on).
    assert (gc.get_threshold(), gc.get_freeze_count()) == collector
    assert tracked_position(fresh_database) == head

    monkeypatch.setattr(rebuild_module, "BATCH_SIZE", 5000)
    report = rebuild(application, fresh_database, TaskListProjection, TaskListView)
    assert report.position == head
    assert task_rows(fresh_database, "read") == before


def test_projections_rebuilt_together_are_each_tracked_at_the_head_and_lose_nothing(
    fresh_database: DatabaseAddress,
    application: PerpetuaApplication,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Many small pages: most projections show a few events of a page or none, and write
    # their share only once they hold half a page's worth (or at the end).
    head = write_history(application, tasks=12)
    live_indexes = read_indexes(fresh_database)
    monkeypatch.setattr(rebuild_module, "BATCH_SIZE", 10)
    reports = rebuild_module.rebuild_together(
        application, fresh_database, list(PROJECTIONS.values())
    )
    # Every index the live tables had, the rebuilt ones have: those built after the replay
    # (the reader indexes) as well as those the replay used.
    assert read_indexes(fresh_database) == live_indexes
    assert ("activity", "activity_user_idx") in {(table, name) for table, name, _ in live_indexes}
    assert [(r.projection, r.position, r.events) for r in reports] == [
        (name, head, head) for name in PROJECTIONS
    ]
    views = build_views(fresh_database, list(PROJECTIONS))
    try:
        assert {
            name: view.max_tracking_id(EVENT_STORE_NAME) for name, view in views.items()
        } == dict.fromkeys(PROJECTIONS, head)
        # The log, which shows every event, has every one of them; the credit balance, which
        # shows a few of them (each a page apart), has the user's.
        with psycopg.connect(fresh_database.conninfo) as conn:
            logged = conn.execute("SELECT count(*), max(position) FROM read.activity").fetchone()
            balances = conn.execute("SELECT count(*) FROM read.credit_balances").fetchone()
        assert logged == (head, head)
        assert balances == (1,)
        # Swapped in settled: the planner has their statistics (a table never analyzed has
        # reltuples -1) and their pages are marked all-visible, without waiting for autovacuum.
        with psycopg.connect(fresh_database.conninfo) as conn:
            settled = conn.execute(
                "SELECT relname, reltuples::bigint, relallvisible > 0 FROM pg_class"
                " WHERE relnamespace = 'read'::regnamespace AND relname IN ('activity', 'tasks')"
                " ORDER BY relname"
            ).fetchall()
        assert settled == [("activity", head, True), ("tasks", 12, True)]
    finally:
        for view in views.values():
            view.datastore.close()


def read_indexes(address: DatabaseAddress) -> list[tuple[str, str, str]]:
    """The read schema's indexes: (table, index, definition)."""
    with psycopg.connect(address.conninfo) as conn:
        rows = conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'read'"
            " ORDER BY tablename, indexname"
        ).fetchall()
    return [(table, name, definition) for table, name, definition in rows]
