"""Analysts get SELECT on the read model and nothing else."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from commands.application import PerpetuaApplication
from infra.database import DatabaseAddress, grant_analyst
from projections.task_list import TaskListProjection, TaskListView
from projectors.rebuild import rebuild
from tests.integration.support import write_history

pytestmark = pytest.mark.integration


def test_analyst_reads_projections_but_not_the_store(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    write_history(application, tasks=3)
    role = f"analyst_{uuid.uuid4().hex[:10]}"
    assert grant_analyst(fresh_database, role) is True
    assert grant_analyst(fresh_database, role) is False  # again: harmless
    # A rebuild swaps in new tables; the default privileges must cover them too.
    rebuild(application, fresh_database, TaskListProjection, TaskListView)
    analyst = DatabaseAddress(fresh_database.host, fresh_database.port, fresh_database.dbname, role)
    try:
        with psycopg.connect(analyst.conninfo, autocommit=True) as conn:
            count = conn.execute("SELECT count(*) FROM read.tasks").fetchone()
            assert count is not None
            assert count[0] == 3
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM events.perpetua_events")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM read.tasks")
    finally:
        with psycopg.connect(fresh_database.conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
