"""Database connections cut under a write load: every command is answered, none is lost or
doubled, and both apps and the projectors come back by themselves."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application, build_read_api, build_write_api, run_projectors
from tests.e2e.conftest import ServerThread, service_settings
from tests.fakes.tcp_proxy import TcpProxy
from tests.faults.conftest import FaultLedger
from tests.integration.support import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration]

CLIENTS = 6
COMMANDS_PER_CLIENT = 12
CUTS = 5
# A request may wait this long, no more: a hung request fails the test.
REQUEST_TIMEOUT_SECONDS = 10.0


@dataclass
class Running:
    write: httpx.Client
    read: httpx.Client
    proxy: TcpProxy
    database: DatabaseAddress


@pytest.fixture
def running(fresh_database: DatabaseAddress, tmp_path: Path) -> Iterator[Running]:
    """The whole service, talking to PostgreSQL only through a proxy that can cut it off."""
    with TcpProxy(fresh_database.host, fresh_database.port) as proxy:
        proxied = replace(fresh_database, host="127.0.0.1", port=proxy.port)
        settings = service_settings(proxied, tmp_path)
        stop = threading.Event()
        projector = threading.Thread(target=run_projectors, args=(settings, [], stop))
        projector.start()
        try:
            with (
                ServerThread(build_write_api(settings)) as write_url,
                ServerThread(build_read_api(settings)) as read_url,
                httpx.Client(base_url=write_url, timeout=REQUEST_TIMEOUT_SECONDS) as write,
                httpx.Client(base_url=read_url, timeout=REQUEST_TIMEOUT_SECONDS) as read,
            ):
                yield Running(write, read, proxy, fresh_database)
        finally:
            stop.set()
            projector.join(timeout=30)


@dataclass
class Sent:
    title: str
    key: str
    status: int
    code: str | None
    seconds: float


def send(api: httpx.Client, headers: dict[str, str], title: str, key: str) -> Sent:
    started = time.monotonic()
    response = api.post(
        "/api/v1/tasks", json={"title": title}, headers={**headers, "Idempotency-Key": key}
    )
    code = response.json()["error"]["code"] if response.status_code >= 400 else None
    return Sent(title, key, response.status_code, code, time.monotonic() - started)


def test_cut_connections_lose_and_double_no_command(running: Running, faults: FaultLedger) -> None:
    login = running.write.post(
        "/api/v1/auth/dev-login", json={"email": "cuts@example.com", "name": "C"}
    )
    headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
    # Pro, so the active-task limit is not what refuses anything here.
    app = build_application(Settings(), running.database)
    try:
        from tests.integration.support import pro_user

        pro_user(app, "cuts@example.com")
    finally:
        app.close()

    sent: list[Sent] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        for command in range(COMMANDS_PER_CLIENT):
            outcome = send(running.write, headers, f"c{number}-{command}", str(uuid.uuid4()))
            with lock:
                sent.append(outcome)

    clients = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in clients:
        thread.start()
    for _ in range(CUTS):
        time.sleep(0.25)
        running.proxy.cut()
        faults.injected += 1
    for thread in clients:
        thread.join(timeout=120)

    assert len(sent) == CLIENTS * COMMANDS_PER_CLIENT
    assert all(s.status in (200, 201) or s.status >= 500 for s in sent), Counter(
        (s.status, s.code) for s in sent
    )
    assert all(s.code is not None for s in sent if s.status >= 500)  # in the envelope
    assert max(s.seconds for s in sent) < REQUEST_TIMEOUT_SECONDS

    # The client retries what failed, with the same key, until it is answered (a claim left
    # behind by a request whose database went away answers "in progress" until its lease ends).
    for failed in [s for s in sent if s.status >= 500]:
        deadline = time.monotonic() + 30
        while (retry := send(running.write, headers, failed.title, failed.key)).status not in (
            200,
            201,
        ):
            assert retry.status >= 500 or retry.code == "IDEMPOTENCY_IN_PROGRESS", retry
            assert time.monotonic() < deadline, "a retry never succeeded"
            time.sleep(0.2)

    app = build_application(Settings(), running.database)
    try:
        stored = app.recorder.select_notifications(start=1, limit=100_000)
        titles = Counter(
            app.mapper.to_domain_event(note).title  # type: ignore[attr-defined]
            for note in stored
            if note.topic.endswith("Task.Created")
        )
    finally:
        app.close()
    expected = {s.title for s in sent}
    lost = len(expected - set(titles))
    duplicated = sum(count - 1 for count in titles.values())
    faults.lost += lost
    faults.duplicated += duplicated
    assert (lost, duplicated) == (0, 0)
    assert set(titles) == expected


def test_while_the_database_is_gone_readiness_says_so_and_everything_comes_back(
    running: Running, faults: FaultLedger
) -> None:
    running.proxy.down()
    faults.injected += 1
    try:
        for api in (running.write, running.read):
            wait_until(lambda api=api: api.get("/health/ready").status_code == 503, timeout=30)
        started = time.monotonic()
        refused = running.write.post(
            "/api/v1/auth/dev-login", json={"email": "gone@example.com", "name": "G"}
        )
        assert time.monotonic() - started < REQUEST_TIMEOUT_SECONDS / 2
        assert refused.status_code >= 500
        assert refused.json()["error"]["code"] in ("SERVICE_UNAVAILABLE", "INTERNAL_ERROR")
    finally:
        running.proxy.up()
    for api in (running.write, running.read):
        wait_until(lambda api=api: api.get("/health/ready").status_code == 200, timeout=60)

    # No restart: a write is read back through the projectors, at its position.
    login = running.write.post(
        "/api/v1/auth/dev-login", json={"email": "back@example.com", "name": "B"}
    )
    headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
    created = running.write.post("/api/v1/tasks", json={"title": "after"}, headers=headers)
    assert created.status_code == 201, created.text
    position = created.headers["X-Event-Position"]

    def readable() -> bool:
        answer = running.read.get("/api/v1/tasks", headers={**headers, "X-Min-Position": position})
        return answer.status_code == 200 and [t["title"] for t in answer.json()["data"]] == [
            "after"
        ]

    wait_until(readable, timeout=60)
