"""Shared fixtures: a PostgreSQL database of this run's own, and small data factories.

With PERPETUA_TEST_DATABASE_URL (or DATABASE_URL) set, each run creates its own databases on
that server and drops them afterwards; otherwise an embedded PostgreSQL is started in a
temporary directory. Either way no run sees another's data.
"""

from __future__ import annotations

# First, before anything imports `projections` or `projectors`: the suite runs the compiled hot
# modules where `make install` built them (infra/compiled.py), as a rebuild does.
from infra.compiled import use_compiled

use_compiled()

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from infra.database import DatabaseAddress, start_embedded_postgres
from perpetua.wiring import prepare_database


def _server_url() -> str | None:
    return os.environ.get("PERPETUA_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")


@pytest.fixture(scope="session")
def database_server(tmp_path_factory: pytest.TempPathFactory) -> DatabaseAddress:
    """Where this run may create databases."""
    url = _server_url()
    if url:
        return DatabaseAddress.from_url(url)
    return start_embedded_postgres(tmp_path_factory.mktemp("embedded") / "pgdata")


class DatabaseFactory:
    """Creates throwaway databases on the test server, and drops them at the end."""

    def __init__(self, server: DatabaseAddress) -> None:
        self.server = server
        self.created: list[str] = []

    def create(self) -> DatabaseAddress:
        name = f"perpetua_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server.conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        address = self.server.with_dbname(name)
        prepare_database(address)
        return address

    def drop_all(self) -> None:
        with psycopg.connect(self.server.conninfo, autocommit=True) as conn:
            for name in self.created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


@pytest.fixture(scope="session")
def databases(database_server: DatabaseAddress) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(database_server)
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def database(databases: DatabaseFactory) -> DatabaseAddress:
    """One database for the run; tests keep apart by using users of their own."""
    return databases.create()


@pytest.fixture
def fresh_database(databases: DatabaseFactory) -> DatabaseAddress:
    """A database for this test alone, for tests that compare whole tables."""
    return databases.create()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "perpetua"
    path.mkdir()
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fault tests that run a whole service of their own go first, before the shared e2e
    service starts: two services at once would take half the server's connections."""

    def runs_first(item: pytest.Item) -> bool:
        return item.get_closest_marker("faults") is not None and "service" not in getattr(
            item, "fixturenames", ()
        )

    items.sort(key=lambda item: not runs_first(item))
