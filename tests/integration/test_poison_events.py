"""A poison event: the projection stops at it (`failed`), an operator skips it on the record,
the projection goes on, and a rebuild skips it too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import psycopg
import pytest

from commands.application import PerpetuaApplication
from commands.messages import Actor, CreateTask, SignIn
from infra.database import DatabaseAddress
from perpetua.wiring import build_views, failures_beside
from projections.base import close_views
from projections.failures import FAILED_AFTER_ATTEMPTS
from projections.registry import PROJECTIONS
from projectors import runner
from projectors.rebuild import rebuild, rebuild_together
from tests.integration.support import (
    every_projection_running,
    position_of,
    task_rows,
    wait_for_all,
    wait_until,
)
from tests.integration.test_failing_projection import (
    POISON,
    position_of_created,
    status_of,
    task_list_failing_on_poison,
    task_titles,
)

pytestmark = pytest.mark.integration


def perpetua(address: DatabaseAddress, *arguments: str) -> subprocess.CompletedProcess[str]:
    url = (
        f"postgresql://{address.user}:{address.password}@/{address.dbname}"
        f"?host={address.host}&port={address.port}"
    )
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "perpetua", *arguments],
        env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "COLUMNS": "200"},
        capture_output=True,
        check=False,
        timeout=120,
        text=True,
    )


def attempts_on_record(address: DatabaseAddress, name: str) -> int:
    views = build_views(address)
    try:
        failure = failures_beside(views).all().get(name)
    finally:
        close_views(views)
    return failure.attempts if failure else 0


def test_a_poison_event_stops_its_projection_until_an_operator_skips_it(
    fresh_database: DatabaseAddress,
    application: PerpetuaApplication,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Shorter pauses between retries and skip checks: the timing is not what is under test.
    monkeypatch.setattr(runner, "RESTART_BACKOFF_SECONDS", (0.05,))
    monkeypatch.setattr(runner, "SKIP_POLL_SECONDS", 0.1)
    alice = Actor(application.sign_in(SignIn("dev", "a@example.com", "a@example.com", "A")).user.id)
    for title in ("before", POISON, "after"):
        application.create_task(CreateTask(actor=alice, title=title))
    poison_at = position_of_created(application, POISON)
    head = application.recorder.max_notification_id() or 0
    never_healed = threading.Event()
    failing = task_list_failing_on_poison(never_healed)

    with every_projection_running(
        fresh_database, application, instead={"task_list": failing}
    ) as workers:
        others = [worker for name, worker in workers.items() if name != "task_list"]
        wait_for_all(others, head)
        wait_until(lambda: status_of(fresh_database, application, "task_list").state == "failed")
        assert attempts_on_record(fresh_database, "task_list") == FAILED_AFTER_ATTEMPTS
        # It has stopped retrying: several skip checks later, still the same count.
        threading.Event().wait(0.5)
        assert attempts_on_record(fresh_database, "task_list") == FAILED_AFTER_ATTEMPTS
        status = perpetua(fresh_database, "projections", "status", "--json")
        assert status.returncode == 0, status.stderr
        reported = {s["name"]: s for s in json.loads(status.stdout)}
        assert (reported["task_list"]["state"], reported["task_list"]["failing_position"]) == (
            "failed",
            poison_at,
        )

        skipped = perpetua(
            fresh_database,
            "projections", "skip", "task_list", str(poison_at),
            "--reason", "imported by a broken client; support ticket 42", "--json",
        )  # fmt: skip
        assert skipped.returncode == 0, skipped.stderr
        record = json.loads(skipped.stdout)
        assert (record["position"], record["event_type"]) == (poison_at, "Task.Created")
        assert record["reason"] == "imported by a broken client; support ticket 42"
        assert record["skipped_by"]
        assert record["skipped_at"]

        wait_until(lambda: position_of(workers["task_list"]) >= head)
        assert task_titles(fresh_database) == ["after", "before"]
        assert status_of(fresh_database, application, "task_list").state == "up to date"
    live = task_rows(fresh_database, "read")

    # A rebuild (with the real task list, which could show it) skips it all the same.
    projection_class, view_class = PROJECTIONS["task_list"]
    rebuild(application, fresh_database, projection_class, view_class)
    assert task_rows(fresh_database, "read") == live

    # Rebuilt together with the activity log, which was not told to skip it: the task list
    # still leaves it out, the log still has its row.
    logged = activity_positions(fresh_database)
    assert poison_at in logged
    rebuild_together(
        application, fresh_database, [PROJECTIONS["task_list"], PROJECTIONS["activity"]]
    )
    assert task_rows(fresh_database, "read") == live
    assert activity_positions(fresh_database) == logged


def activity_positions(address: DatabaseAddress) -> list[int]:
    with psycopg.connect(address.conninfo) as conn:
        return [row[0] for row in conn.execute("SELECT position FROM read.activity ORDER BY 1")]


def test_skipping_needs_a_known_projection_and_an_existing_event(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    head = application.recorder.max_notification_id() or 0
    unknown = perpetua(fresh_database, "projections", "skip", "nope", "1", "--reason", "x")
    assert unknown.returncode == 2
    assert "unknown projection" in unknown.stderr
    missing = perpetua(
        fresh_database, "projections", "skip", "task_list", str(head + 1000), "--reason", "x"
    )
    assert missing.returncode == 1
    assert "no event at position" in missing.stderr
