"""A write API killed (SIGKILL) right after an AI request paid, before the provider was even
asked: the retry with the same key refunds the spend and says so, and never asks again."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from aggregates.credit_ledger import CreditLedger
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application, build_write_api
from tests.e2e.conftest import FakeProviders, ServerThread, service_settings
from tests.fakes.deepgram_server import FakeDeepgram
from tests.fakes.openai_server import FakeOpenAI
from tests.faults.conftest import FaultLedger
from tests.faults.test_write_api_kill import START_SECONDS, _free_port, _wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_an_ai_request_killed_after_paying_is_refunded_on_retry(
    fresh_database: DatabaseAddress,
    tmp_path: Path,
    faults: FaultLedger,
    openai_fake: FakeOpenAI,
    deepgram_fake: FakeDeepgram,
) -> None:
    settings = service_settings(
        fresh_database, tmp_path, providers=FakeProviders(openai_fake, deepgram_fake)
    )
    assert settings.openai_api_key is not None
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "PERPETUA_ENV": "dev",
        "PERPETUA_DATA_DIR": str(tmp_path),
        "OPENAI_API_KEY": settings.openai_api_key.get_secret_value(),
        "OPENAI_BASE_URL": settings.openai_base_url or "",
    }
    body = {"message": "What first?"}
    calls = openai_fake.calls
    with ServerThread(build_write_api(settings)) as url, httpx.Client(base_url=url) as api:
        login = api.post("/api/v1/auth/dev-login", json={"email": "ai@example.com", "name": "A"})
        user_id = uuid.UUID(login.json()["data"]["user"]["id"])
        headers = {
            "Authorization": f"Bearer {login.json()['data']['access_token']}",
            "Idempotency-Key": f"key-{uuid.uuid4()}",
        }
        port = _free_port()
        crashing = subprocess.Popen(  # noqa: S603  # our own module, our own interpreter
            [sys.executable, "-m", "tests.fakes.crashing_write_api", str(port)],
            env=environment,
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}/health/live", crashing)
            with pytest.raises(httpx.TransportError):
                httpx.post(
                    f"http://127.0.0.1:{port}/api/v1/ai/chat",
                    json=body,
                    headers=headers,
                    timeout=10,
                )
            assert crashing.wait(timeout=10) == -9  # SIGKILLed, right after the spend
            faults.injected += 1
        finally:
            crashing.kill()
        deadline = time.monotonic() + START_SECONDS
        while (retry := api.post("/api/v1/ai/chat", json=body, headers=headers)).status_code == 409:
            assert time.monotonic() < deadline, "the dead attempt's claim never ended"
            time.sleep(1.0)  # a retry a second: well inside the AI rate limit
        again = api.post("/api/v1/ai/chat", json=body, headers=headers)

    for answer in (retry, again):
        assert answer.status_code == 502, answer.text
        error = answer.json()["error"]
        assert (error["code"], error["details"]["reason"]) == ("AI_PROVIDER_ERROR", "interrupted")
    assert openai_fake.calls == calls  # the provider was never asked, not even by the retry
    app = build_application(Settings(), fresh_database)
    try:
        ledger = app.repository.get(CreditLedger.create_id(user_id))
        notes = app.recorder.select_notifications(start=1, limit=10_000)
    finally:
        app.close()
    spent = sum(note.topic.endswith("CreditsSpent") for note in notes)
    refunded = sum(note.topic.endswith("CreditsRefunded") for note in notes)
    assert (spent, refunded) == (1, 1)  # paid once, given back once, however often retried
    assert isinstance(ledger, CreditLedger)
    assert ledger.total == 15  # the sign-up's daily 10 and kickstart 5, all there
    faults.lost += ledger.total != 15
    faults.duplicated += max(refunded - 1, 0)
