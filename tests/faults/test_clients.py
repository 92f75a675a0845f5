"""Clients that hang up mid-request, or trickle their body: no stuck worker, and no command
recorded by half (an Idempotency-Key without its events, or events without their key)."""

from __future__ import annotations

import json
import random
import socket
import time
import uuid
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from perpetua.wiring import build_application, database_of
from tests.e2e.conftest import Service
from tests.faults.conftest import FaultLedger

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

HANG_UPS = 10


def raw_request(
    url: str, headers: dict[str, str], body: bytes, *, send_bytes: int
) -> socket.socket:
    """Open a connection and send a POST /api/v1/tasks, but only its first `send_bytes` of body."""
    address = urlsplit(url)
    sock = socket.create_connection((address.hostname, address.port))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock.sendall(
        f"POST /api/v1/tasks HTTP/1.1\r\nHost: {address.netloc}\r\n{head}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body[:send_bytes]
    )
    return sock


def created_titles(service: Service) -> list[str]:
    app = build_application(service.settings, database_of(service.settings))
    try:
        notes = app.recorder.select_notifications(start=1, limit=1_000_000)
        return [
            app.mapper.to_domain_event(note).title  # type: ignore[attr-defined]
            for note in notes
            if note.topic.endswith("Task.Created")
        ]
    finally:
        app.close()


def test_a_client_that_hangs_up_mid_request_gets_its_command_once_on_retry(
    service: Service, faults: FaultLedger
) -> None:
    headers = service.sign_in()
    chooser = random.Random(7)
    sent: dict[str, str] = {}
    for number in range(HANG_UPS):
        title, key = f"hang-up {uuid.uuid4().hex[:8]} {number}", str(uuid.uuid4())
        body = json.dumps({"title": title}).encode()
        sock = raw_request(
            str(service.write.base_url), {**headers, "Idempotency-Key": key}, body,
            send_bytes=len(body),
        )  # fmt: skip
        time.sleep(chooser.uniform(0, 0.05))  # hang up at a random moment of the request
        sock.close()
        faults.injected += 1
        sent[title] = key

    for title, key in sent.items():
        deadline = time.monotonic() + 20
        while True:
            retry = service.write.post(
                "/api/v1/tasks", json={"title": title}, headers={**headers, "Idempotency-Key": key}
            )
            if retry.status_code in (200, 201):
                break
            assert retry.json()["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS", retry.text
            assert time.monotonic() < deadline, "the retry never got an answer"
            time.sleep(0.1)

    titles = created_titles(service)
    counts = {title: titles.count(title) for title in sent}
    faults.lost += sum(1 for count in counts.values() if count == 0)
    faults.duplicated += sum(count - 1 for count in counts.values() if count > 1)
    assert set(counts.values()) == {1}

    # Every key is either used with its events in the store, or not used at all.
    conninfo = database_of(service.settings).conninfo
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT key, state, committed_position FROM events.idempotency_keys"
            " WHERE key = ANY(%s)",
            (list(sent.values()),),
        ).fetchall()
    assert len(rows) == HANG_UPS
    assert all(state == "completed" and position is not None for _, state, position in rows)


def test_a_client_trickling_its_body_holds_up_nobody_and_records_nothing(
    service: Service, faults: FaultLedger
) -> None:
    headers = service.sign_in()
    title = f"trickled {uuid.uuid4().hex[:8]}"
    body = json.dumps({"title": title}).encode()
    slow = raw_request(str(service.write.base_url), headers, body, send_bytes=5)
    faults.injected += 1
    try:
        started = time.monotonic()
        other = service.write.post("/api/v1/tasks", json={"title": "meanwhile"}, headers=headers)
        assert other.status_code == 201
        assert time.monotonic() - started < 2  # the slow client holds no worker
        assert httpx.get(f"{service.write.base_url}/health/live", timeout=2).status_code == 200
    finally:
        slow.close()
    assert title not in created_titles(service)
