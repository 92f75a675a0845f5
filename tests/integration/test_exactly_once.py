"""Exactly once by construction: a command's Idempotency-Key is marked in the command's own
commit, so no crash, lost answer or lost connection can make it run twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from eventsourcing.persistence import IntegrityError
from psycopg_pool import ConnectionPool

from commands.application import PerpetuaApplication
from commands.messages import Actor, CreateTask, SignIn
from infra.command_keys import CommandKey, CommandKeyLostError, current_command_key
from infra.database import EVENTS_SCHEMA, DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application, prepare_database
from writeapi.idempotency_store import ClaimOutcome, IdempotencyStore

pytestmark = pytest.mark.integration

START_SECONDS = 30


@pytest.fixture
def store(fresh_database: DatabaseAddress) -> Iterator[IdempotencyStore]:
    prepare_database(fresh_database)
    with ConnectionPool(fresh_database.conninfo, min_size=1, max_size=2) as pool:
        # A zero lease: every claim still in progress counts as abandoned at once.
        yield IdempotencyStore(pool, schema=EVENTS_SCHEMA, lease=timedelta(0))


@pytest.fixture
def app(fresh_database: DatabaseAddress) -> Iterator[PerpetuaApplication]:
    application = build_application(Settings(), fresh_database)
    yield application
    application.close()


def created_tasks(app: PerpetuaApplication) -> int:
    notes = app.recorder.select_notifications(start=1, limit=10_000)
    return sum(note.topic.endswith("Task.Created") for note in notes)


def create_under(app: PerpetuaApplication, key: CommandKey, title: str) -> int:
    token = current_command_key.set(key)
    try:
        return app.create_task(CreateTask(Actor(key.user_id), title)).position
    finally:
        current_command_key.reset(token)


def test_a_committed_command_is_not_run_again_when_its_answer_was_lost(
    store: IdempotencyStore, app: PerpetuaApplication
) -> None:
    user = app.sign_in(SignIn("dev", "once@example.com", "once@example.com", "O")).user.id
    claim = store.claim(user, "k", "fingerprint")
    assert claim.attempt is not None
    position = create_under(app, CommandKey(user, "k", claim.attempt), "Pay rent")
    # The process died here: no answer stored. Releasing (as a 5xx would) keeps the key used.
    store.release(user, "k", claim.attempt)
    retry = store.claim(user, "k", "fingerprint")
    assert retry.outcome is ClaimOutcome.COMMITTED
    assert retry.committed is not None
    assert retry.committed.position == position
    assert {saved["topic"].rsplit(".", 1)[-1] for saved in retry.committed.aggregates} >= {
        "Created",
        "Activated",
    }
    assert created_tasks(app) == 1


def test_an_attempt_whose_claim_was_taken_over_records_nothing(
    store: IdempotencyStore, app: PerpetuaApplication
) -> None:
    user = app.sign_in(SignIn("dev", "slow@example.com", "slow@example.com", "S")).user.id
    stalled = store.claim(user, "k", "fingerprint")
    takeover = store.claim(user, "k", "fingerprint")  # the first one's lease ran out
    assert takeover.outcome is ClaimOutcome.CLAIMED
    assert stalled.attempt is not None
    assert takeover.attempt is not None
    with pytest.raises(CommandKeyLostError):
        create_under(app, CommandKey(user, "k", stalled.attempt), "Pay rent")
    assert created_tasks(app) == 0
    create_under(app, CommandKey(user, "k", takeover.attempt), "Pay rent")
    assert created_tasks(app) == 1


def test_an_insert_retried_after_a_lost_commit_acknowledgement_appends_nothing_twice(
    app: PerpetuaApplication,
) -> None:
    user = app.sign_in(SignIn("dev", "ack@example.com", "ack@example.com", "A")).user
    user.update_profile({"name": "Ack"})
    stored = [app.mapper.to_stored_event(e) for e in user.collect_events()]
    first = app.recorder.insert_events(stored)
    # What the library's retry does when the connection dropped after the server committed.
    assert app.recorder.insert_events(stored) == first
    user.update_profile({"name": "Different"})
    other = [app.mapper.to_stored_event(e) for e in user.collect_events()]
    # A different event at a version already taken is still a conflict.
    clash = [replace(other[0], originator_version=stored[0].originator_version)]
    with pytest.raises(IntegrityError):
        app.recorder.insert_events(clash)
