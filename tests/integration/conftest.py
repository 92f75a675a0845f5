"""Fixtures for tests on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from commands.application import PerpetuaApplication
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application
from projections.registry import PROJECTIONS


@pytest.fixture
def application(fresh_database: DatabaseAddress) -> Iterator[PerpetuaApplication]:
    """The write model on a database of this test's own."""
    # As the projector builds it: tests run every projection through it, each holding a
    # pooled connection to listen on.
    app = build_application(Settings(), fresh_database, subscriptions=len(PROJECTIONS))
    yield app
    app.close()
