"""A write API killed (SIGKILL) right after an AI request paid, before the provider was even
asked: the spend is refunded — by the client's retry with the same key, or by the scheduler
when the client never comes back — once, and the provider is never asked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from aggregates.credit_ledger import CreditLedger
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application, build_write_api
from projectors.scheduler import Scheduler
from tests.e2e.conftest import FakeProviders, ServerThread, service_settings
from tests.fakes.deepgram_server import FakeDeepgram
from tests.fakes.openai_server import FakeOpenAI
from tests.faults.conftest import FaultLedger
from tests.faults.test_write_api_kill import START_SECONDS, _free_port, _wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

BODY = {"message": "What first?"}
SIGN_UP_CREDITS = 15  # the day's 10 and the kickstart's 5


@pytest.fixture
def settings(
    fresh_database: DatabaseAddress,
    tmp_path: Path,
    openai_fake: FakeOpenAI,
    deepgram_fake: FakeDeepgram,
) -> Settings:
    return service_settings(
        fresh_database, tmp_path, providers=FakeProviders(openai_fake, deepgram_fake)
    )


def paid_then_killed(settings: Settings, tmp_path: Path, headers: dict[str, str]) -> None:
    """POST the chat to a write API that dies right after its first commit: the spend."""
    assert settings.openai_api_key is not None
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "PERPETUA_ENV": "dev",
        "PERPETUA_DATA_DIR": str(tmp_path),
        "OPENAI_API_KEY": settings.openai_api_key.get_secret_value(),
        "OPENAI_BASE_URL": settings.openai_base_url or "",
    }
    port = _free_port()
    crashing = subprocess.Popen(  # noqa: S603  # our own module, our own interpreter
        [sys.executable, "-m", "tests.fakes.crashing_write_api", str(port)], env=environment
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/health/live", crashing)
        with pytest.raises(httpx.TransportError):
            httpx.post(
                f"http://127.0.0.1:{port}/api/v1/ai/chat", json=BODY, headers=headers, timeout=10
            )
        assert crashing.wait(timeout=10) == -9  # SIGKILLed, right after the spend
    finally:
        crashing.kill()


def retried(api: httpx.Client, headers: dict[str, str]) -> list[httpx.Response]:
    """The client's retries with the same key, once the dead attempt's claim has ended."""
    deadline = time.monotonic() + START_SECONDS
    while (first := api.post("/api/v1/ai/chat", json=BODY, headers=headers)).status_code == 409:
        assert time.monotonic() < deadline, "the dead attempt's claim never ended"
        time.sleep(1.0)  # a retry a second: well inside the AI rate limit
    return [first, api.post("/api/v1/ai/chat", json=BODY, headers=headers)]


def signed_in(api: httpx.Client) -> tuple[uuid.UUID, dict[str, str]]:
    login = api.post("/api/v1/auth/dev-login", json={"email": "ai@example.com", "name": "A"})
    data = login.json()["data"]
    headers = {
        "Authorization": f"Bearer {data['access_token']}",
        "Idempotency-Key": f"key-{uuid.uuid4()}",
    }
    return uuid.UUID(data["user"]["id"]), headers


def count_credits(
    settings: Settings, database: DatabaseAddress, user_id: uuid.UUID
) -> tuple[int, int, int]:
    """(balance, spends, refunds) as the store has them."""
    app = build_application(settings, database)
    try:
        ledger = app.repository.get(CreditLedger.create_id(user_id))
        notes = app.recorder.select_notifications(start=1, limit=10_000)
    finally:
        app.close()
    assert isinstance(ledger, CreditLedger)
    spent = sum(note.topic.endswith("CreditsSpent") for note in notes)
    refunded = sum(note.topic.endswith("CreditsRefunded") for note in notes)
    return ledger.total, spent, refunded


def assert_interrupted(answers: list[httpx.Response]) -> None:
    for answer in answers:
        assert answer.status_code == 502, answer.text
        error = answer.json()["error"]
        assert (error["code"], error["details"]["reason"]) == ("AI_PROVIDER_ERROR", "interrupted")


def test_an_ai_request_killed_after_paying_is_refunded_on_retry(
    settings: Settings,
    fresh_database: DatabaseAddress,
    tmp_path: Path,
    faults: FaultLedger,
    openai_fake: FakeOpenAI,
) -> None:
    calls = openai_fake.calls
    with ServerThread(build_write_api(settings)) as url, httpx.Client(base_url=url) as api:
        user_id, headers = signed_in(api)
        paid_then_killed(settings, tmp_path, headers)
        faults.injected += 1
        answers = retried(api, headers)

    assert_interrupted(answers)
    assert openai_fake.calls == calls  # the provider was never asked, not even by the retry
    balance, spent, refunded = count_credits(settings, fresh_database, user_id)
    assert (balance, spent, refunded) == (SIGN_UP_CREDITS, 1, 1)
    faults.lost += balance != SIGN_UP_CREDITS
    faults.duplicated += max(refunded - 1, 0)


def test_an_ai_request_killed_after_paying_and_never_retried_is_refunded_by_the_scheduler(
    settings: Settings,
    fresh_database: DatabaseAddress,
    tmp_path: Path,
    faults: FaultLedger,
) -> None:
    with ServerThread(build_write_api(settings)) as url, httpx.Client(base_url=url) as api:
        user_id, headers = signed_in(api)
        paid_then_killed(settings, tmp_path, headers)
        faults.injected += 1
        assert count_credits(settings, fresh_database, user_id) == (SIGN_UP_CREDITS - 1, 1, 0)
        app = build_application(settings, fresh_database)
        try:
            scheduler = Scheduler(
                app,
                due_reminders=lambda *_: [],
                due_templates=lambda *_: [],
                sweep_after=timedelta(0),
            )
            first, second = scheduler.tick(), scheduler.tick()
        finally:
            app.close()
        assert (first.interrupted, second.interrupted) == (1, 0)  # swept once
        assert count_credits(settings, fresh_database, user_id) == (SIGN_UP_CREDITS, 1, 1)
        # A late retry hears what happened, and nothing is refunded twice.
        assert_interrupted(retried(api, headers))

    balance, spent, refunded = count_credits(settings, fresh_database, user_id)
    assert (balance, spent, refunded) == (SIGN_UP_CREDITS, 1, 1)
    faults.lost += balance != SIGN_UP_CREDITS
    faults.duplicated += max(refunded - 1, 0)
