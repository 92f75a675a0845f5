"""Fixtures for tests on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from commands.application import PerpetuaApplication
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application


@pytest.fixture
def application(fresh_database: DatabaseAddress) -> Iterator[PerpetuaApplication]:
    """The write model on a database of this test's own."""
    app = build_application(Settings(), fresh_database)
    yield app
    app.close()
