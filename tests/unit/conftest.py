"""Fixtures for the in-memory unit tests."""

from __future__ import annotations

import pytest

from commands.application import PerpetuaApplication
from commands.messages import Actor, SignIn
from tests.fakes.clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> PerpetuaApplication:
    """The write model on the in-memory store, on the hand-moved clock (modules may override)."""
    return PerpetuaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)


@pytest.fixture
def alice(app: PerpetuaApplication) -> Actor:
    user = app.sign_in(SignIn("dev", "alice@example.com", "alice@example.com", "Alice")).user
    return Actor(user.id)
