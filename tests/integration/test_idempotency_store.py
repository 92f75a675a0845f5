"""The Idempotency-Key store on PostgreSQL: one claim per key, leases and expiry."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from psycopg_pool import ConnectionPool

from infra.database import EVENTS_SCHEMA, DatabaseAddress
from writeapi.idempotency_store import Claim, ClaimOutcome, IdempotencyStore, StoredResponse

pytestmark = pytest.mark.integration

ANSWER = StoredResponse(201, [("content-type", "application/json")], b'{"data": 1}')


@pytest.fixture
def pool(database: DatabaseAddress) -> Iterator[ConnectionPool]:
    with ConnectionPool(database.conninfo, min_size=1, max_size=2) as pool:
        yield pool


def store(pool: ConnectionPool, **kwargs: timedelta) -> IdempotencyStore:
    return IdempotencyStore(pool, schema=EVENTS_SCHEMA, **kwargs)


def attempt_of(claim: Claim) -> uuid.UUID:
    assert claim.attempt is not None
    return claim.attempt


def test_a_key_is_claimed_once_then_replayed(pool: ConnectionPool) -> None:
    keys, user = store(pool), uuid.uuid4()
    claim = keys.claim(user, "k", "f")
    assert claim.outcome is ClaimOutcome.CLAIMED
    assert keys.claim(user, "k", "f").outcome is ClaimOutcome.IN_PROGRESS
    assert keys.claim(user, "k", "other").outcome is ClaimOutcome.REUSED
    keys.complete(user, "k", attempt_of(claim), ANSWER)
    replay = keys.claim(user, "k", "f")
    assert replay.outcome is ClaimOutcome.REPLAY
    assert replay.response == ANSWER


def test_a_released_key_can_run_again(pool: ConnectionPool) -> None:
    keys, user = store(pool), uuid.uuid4()
    keys.release(user, "k", attempt_of(keys.claim(user, "k", "f")))
    assert keys.claim(user, "k", "f").outcome is ClaimOutcome.CLAIMED


def test_an_abandoned_claim_is_taken_over_after_its_lease(pool: ConnectionPool) -> None:
    keys, user = store(pool, lease=timedelta(0)), uuid.uuid4()
    keys.claim(user, "k", "f")
    assert keys.claim(user, "k", "f").outcome is ClaimOutcome.CLAIMED


def test_an_expired_key_is_new_again(pool: ConnectionPool) -> None:
    keys, user = store(pool, retention=timedelta(0)), uuid.uuid4()
    keys.complete(user, "k", attempt_of(keys.claim(user, "k", "f")), ANSWER)
    assert keys.claim(user, "k", "different").outcome is ClaimOutcome.CLAIMED
    assert keys.forget_expired() >= 1


def test_a_renewed_claim_is_not_taken_over(pool: ConnectionPool) -> None:
    # Two requests hold their keys past the lease; one renews its claim (a slow AI call),
    # the other's process died and stopped renewing.
    keys, user = store(pool, lease=timedelta(seconds=1)), uuid.uuid4()
    alive = attempt_of(keys.claim(user, "alive", "f"))
    keys.claim(user, "dead", "f")
    time.sleep(1.1)
    keys.renew(user, "alive", alive)
    assert keys.claim(user, "alive", "f").outcome is ClaimOutcome.IN_PROGRESS
    assert keys.claim(user, "dead", "f").outcome is ClaimOutcome.CLAIMED
