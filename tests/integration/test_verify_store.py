"""`perpetua events verify` finds a damaged store and passes an intact one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from commands.application import PerpetuaApplication
from infra.database import DatabaseAddress
from projectors.verify import verify_store
from tests.integration.support import write_history

pytestmark = pytest.mark.integration


def run_verify(address: DatabaseAddress) -> subprocess.CompletedProcess[bytes]:
    url = (
        f"postgresql://{address.user}:{address.password}@/{address.dbname}"
        f"?host={address.host}&port={address.port}"
    )
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "perpetua", "events", "verify", "--json"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_an_untouched_store_is_intact(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    head = write_history(application, tasks=20)
    report = verify_store(application)
    assert report.intact, report.problems
    assert report.last_position == head
    assert report.events == len(application.recorder.select_notifications(start=1, limit=10_000))
    result = run_verify(fresh_database)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["intact"] is True


def test_an_event_that_no_longer_decodes_is_reported(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    write_history(application, tasks=3)
    with psycopg.connect(fresh_database.conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events.perpetua_events (originator_id, originator_version, topic, state)"
            " VALUES (%s, 1, 'vanished.module:Gone', %s)",
            (uuid.uuid4(), b"{}"),
        )
    report = verify_store(application)
    assert not report.intact
    assert any("does not decode" in problem for problem in report.problems)
    result = run_verify(fresh_database)
    assert result.returncode == 1
    assert json.loads(result.stdout)["intact"] is False


def test_a_missing_version_is_reported(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    write_history(application, tasks=3)
    with psycopg.connect(fresh_database.conninfo, autocommit=True) as conn:
        row = conn.execute(
            "DELETE FROM events.perpetua_events WHERE originator_version = 2"
            " AND topic LIKE '%Task.Updated' RETURNING originator_id"
        ).fetchone()
    assert row is not None
    report = verify_store(application)
    assert any(str(row[0]) in problem for problem in report.problems)


def test_gaps_left_by_rolled_back_appends_are_counted_not_damage(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    write_history(application, tasks=1)
    task_id = next(
        n.originator_id
        for n in application.recorder.select_notifications(start=1, limit=100)
        if n.topic.endswith("Task.Created")
    )
    mine, stale = application.repository.get(task_id), application.repository.get(task_id)
    version = mine.version
    mine.hide()
    application.save(mine)
    stale.hide()
    with pytest.raises(IntegrityError):  # the losing append burns its position
        application.save(stale)
    current = application.repository.get(task_id)
    current.unhide()
    application.save(current)
    report = verify_store(application)
    assert report.intact, report.problems
    assert report.position_gaps >= 1
    assert application.repository.get(task_id).version == version + 2
