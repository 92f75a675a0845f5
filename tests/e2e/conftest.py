"""Both APIs and the projector, running for real on loopback ports, against this run's database."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_read_api, build_write_api, run_projectors
from tests.fakes.google_certs import CLIENT_ID, FakeGoogle

STARTUP_TIMEOUT_SECONDS = 30


class ServerThread:
    """uvicorn on an ephemeral loopback port, in a thread of this test process."""

    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Service:
    write: httpx.Client
    read: httpx.Client
    settings: Settings

    def sign_in(self, email: str | None = None) -> dict[str, str]:
        """A new user (unless `email` is given); returns their auth header."""
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        response = self.write.post(
            "/api/v1/auth/dev-login", json={"email": email, "name": "Tester"}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}

    def create_task(self, headers: dict[str, str], **body: Any) -> httpx.Response:
        body.setdefault("title", "Write the report")
        response = self.write.post("/api/v1/tasks", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response


def service_settings(
    database: DatabaseAddress, data_dir: Path, google: FakeGoogle | None = None
) -> Settings:
    url = (
        f"postgresql://{database.user}:{database.password}@/{database.dbname}"
        f"?host={database.host}&port={database.port}"
    )
    # Every test signs in users of its own from 127.0.0.1: lift the per-IP sign-in limit.
    return Settings(
        database_url=url,
        perpetua_env="dev",
        perpetua_data_dir=data_dir,
        auth_requests_per_minute=100_000,
        google_client_ids=[CLIENT_ID] if google else [],
        google_certs_url=google.certs_url if google else "http://127.0.0.1:9/unused",
    )


@pytest.fixture(scope="session")
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake


@pytest.fixture(scope="session")
def service(
    database: DatabaseAddress, tmp_path_factory: pytest.TempPathFactory, google: FakeGoogle
) -> Iterator[Service]:
    settings = service_settings(database, tmp_path_factory.mktemp("service"), google)
    stop = threading.Event()
    projector = threading.Thread(target=run_projectors, args=(settings, [], stop), daemon=True)
    projector.start()
    with (
        ServerThread(build_write_api(settings)) as write_url,
        ServerThread(build_read_api(settings)) as read_url,
        httpx.Client(base_url=write_url, timeout=10) as write,
        httpx.Client(base_url=read_url, timeout=10) as read,
    ):
        yield Service(write=write, read=read, settings=settings)
    stop.set()
    projector.join(timeout=10)
