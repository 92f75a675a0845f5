"""How long a read waits for its own write: our NOTIFY-driven wait vs the library's `wait()`.

Both measure the same thing on the same database in the same run: append a task, then block
until the task-list projection has processed its position. The baseline is
`TrackingRecorder.wait()` (polls with 100-800 ms steps); ours is the read API's
`ProjectionProgress.wait_for()` (woken by the projector's NOTIFY on commit).

    DATABASE_URL=postgresql://... .venv/bin/python -m bench.read_your_writes

Without DATABASE_URL an embedded PostgreSQL is started in a temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from commands.application import PerpetuaApplication
from commands.messages import Actor, CreateTask, SignIn
from infra.database import EVENT_STORE_NAME, DatabaseAddress, resolve_database
from infra.settings import Settings
from perpetua.wiring import build_application, build_views, prepare_database
from projections.task_list import TaskListProjection, TaskListView
from projectors.runner import ProjectionWorker
from readapi.consistency import ProjectionProgress
from readapi.main import read_positions

ROUNDS = 40


def create_database(server: DatabaseAddress) -> DatabaseAddress:
    name = f"perpetua_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.with_dbname(name)


def drop_database(server: DatabaseAddress, address: DatabaseAddress) -> None:
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(address.dbname))
        )


def measure(write: Callable[[], int], wait: Callable[[int], None]) -> list[float]:
    samples = []
    for _ in range(ROUNDS):
        position = write()
        started = time.perf_counter()
        wait(position)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run(address: DatabaseAddress) -> None:
    prepare_database(address)
    app: PerpetuaApplication = build_application(Settings(), address)
    user = app.sign_in(SignIn("dev", "bench@example.com", "bench@example.com", "Bench")).user
    actor = Actor(user.id, tier="pro")
    view = build_views(address, ["task_list"])["task_list"]
    assert isinstance(view, TaskListView)
    worker = ProjectionWorker(app, TaskListProjection(view))
    thread = threading.Thread(target=worker.run)
    thread.start()

    def write() -> int:
        return app.create_task(CreateTask(actor=actor, title="bench")).position

    try:
        baseline = measure(write, lambda p: view.wait(EVENT_STORE_NAME, p, timeout=5))

        async def ours() -> list[float]:
            progress = ProjectionProgress(
                address.conninfo, lambda: read_positions({"task_list": view})
            )
            await progress.start()
            loop = asyncio.get_running_loop()
            samples = []
            for _ in range(ROUNDS):
                position = await loop.run_in_executor(None, write)
                started = time.perf_counter()
                assert await progress.wait_for(["task_list"], position, timeout=5)
                samples.append((time.perf_counter() - started) * 1000)
            await progress.stop()
            return samples

        notify = asyncio.run(ours())
    finally:
        worker.stop()
        thread.join(timeout=10)
        view.datastore.close()
        app.close()

    base_p50, ours_p50 = statistics.median(baseline), statistics.median(notify)
    print(f"rounds: {ROUNDS}")
    print(f"library wait(): p50 {base_p50:7.2f} ms  max {max(baseline):7.2f} ms")
    print(f"NOTIFY wait:    p50 {ours_p50:7.2f} ms  max {max(notify):7.2f} ms")
    print(f"ratio (baseline p50 / ours p50): {base_p50 / ours_p50:.1f}x")


def main() -> None:
    url = os.environ.get("PERPETUA_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        server = resolve_database(url, Path(tmp) / "pgdata")
        address = create_database(server)
        try:
            run(address)
        finally:
            drop_database(server, address)


if __name__ == "__main__":
    main()
