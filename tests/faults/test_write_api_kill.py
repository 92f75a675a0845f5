"""A write API killed (SIGKILL) right after a command's events commit, before it can answer
or store its answer: the retry with the same key finds the command done, and it ran once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application, build_write_api
from tests.e2e.conftest import ServerThread, service_settings
from tests.faults.conftest import FaultLedger

pytestmark = [pytest.mark.faults, pytest.mark.integration]

START_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_write_api_killed_right_after_the_commit_still_runs_the_command_once(
    fresh_database: DatabaseAddress, tmp_path: Path, faults: FaultLedger
) -> None:
    settings = service_settings(fresh_database, tmp_path)
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "PERPETUA_ENV": "dev",
        "PERPETUA_DATA_DIR": str(tmp_path),
    }
    with ServerThread(build_write_api(settings)) as url, httpx.Client(base_url=url) as api:
        login = api.post("/api/v1/auth/dev-login", json={"email": "k@example.com", "name": "K"})
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
                    f"http://127.0.0.1:{port}/api/v1/tasks",
                    json={"title": "Pay rent"},
                    headers=headers,
                    timeout=10,
                )
            assert crashing.wait(timeout=10) == -9  # SIGKILLed, after its commit
            faults.injected += 1
        finally:
            crashing.kill()
        # Until the dead attempt's lease ends, a retry is told it is still in progress.
        deadline = time.monotonic() + START_SECONDS
        while (
            first := api.post("/api/v1/tasks", json={"title": "Pay rent"}, headers=headers)
        ).status_code == 409:
            assert first.json()["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
            assert time.monotonic() < deadline, "the dead attempt's claim never ended"
            time.sleep(0.5)
        retries = [first]
        retries.append(api.post("/api/v1/tasks", json={"title": "Pay rent"}, headers=headers))
    for retry in retries:
        assert retry.status_code == 200, retry.text
        assert retry.headers["Idempotent-Replayed"] == "true"
        data = retry.json()["data"]
        assert data["committed"] is True
        assert "Task" in {aggregate["type"] for aggregate in data["aggregates"]}
    app = build_application(Settings(), fresh_database)
    try:
        notes = app.recorder.select_notifications(start=1, limit=10_000)
        created = sum(note.topic.endswith("Task.Created") for note in notes)
    finally:
        app.close()
    faults.lost += created == 0
    faults.duplicated += max(created - 1, 0)
    assert created == 1


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("the crashing write API did not start")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the crashing write API did not start in time")
