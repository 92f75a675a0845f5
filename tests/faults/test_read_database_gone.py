"""The read API's task list (read on its own async pool) while its database is gone: a 503 in
the envelope, never a hang, and answers again by itself once the database is back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from infra.database import DatabaseAddress
from infra.keys import load_key_set
from infra.tokens import TokenIssuer
from perpetua.wiring import build_read_api
from tests.e2e.conftest import ServerThread, service_settings
from tests.fakes.tcp_proxy import TcpProxy
from tests.faults.conftest import FaultLedger
from tests.integration.support import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration]

# A request may wait this long, no more: a hung request fails the test.
REQUEST_TIMEOUT_SECONDS = 10.0


@dataclass
class ReadApi:
    client: httpx.Client
    proxy: TcpProxy
    auth: dict[str, str]


@pytest.fixture
def read_api(fresh_database: DatabaseAddress, tmp_path: Path) -> Iterator[ReadApi]:
    """The read API alone, talking to PostgreSQL only through a proxy that can cut it off."""
    with TcpProxy(fresh_database.host, fresh_database.port) as proxy:
        proxied = replace(fresh_database, host="127.0.0.1", port=proxy.port)
        settings = service_settings(proxied, tmp_path)
        app = build_read_api(settings)
        issuer = TokenIssuer(
            load_key_set(settings, need_private=True),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=600,
        )
        token, _ = issuer.issue(uuid.uuid4(), "free")
        with (
            ServerThread(app) as url,
            httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_SECONDS) as client,
        ):
            yield ReadApi(client, proxy, {"Authorization": f"Bearer {token}"})


def test_the_task_list_answers_503_while_the_database_is_gone_and_comes_back(
    read_api: ReadApi, faults: FaultLedger
) -> None:
    client, auth = read_api.client, read_api.auth
    first = client.get("/api/v1/tasks", params={"limit": 10}, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json()["data"] == []

    read_api.proxy.down()
    faults.injected += 1
    try:
        for limit in (20, 30):  # through a cut connection, then with none to be had
            gone = client.get(
                "/api/v1/tasks", params={"limit": limit}, headers={**auth, "X-Request-ID": "gone"}
            )
            assert gone.status_code == 503, gone.text
            error = gone.json()["error"]
            assert error["code"] == "SERVICE_UNAVAILABLE"
            assert error["request_id"] == "gone" == gone.headers["X-Request-ID"]
            assert int(gone.headers["Retry-After"]) >= 1
            assert gone.headers["X-Content-Type-Options"] == "nosniff"
            assert "X-Projection-Position" in gone.headers
    finally:
        read_api.proxy.up()

    wait_until(
        lambda: client.get("/api/v1/tasks", params={"limit": 40}, headers=auth).status_code == 200,
        timeout=60,
    )
