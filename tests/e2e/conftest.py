"""Both APIs, the projector and the scheduler, running for real on loopback ports (the
scheduler with a short tick), against this run's database."""

from __future__ import annotations

import hashlib
import hmac
import json
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

from commands.application import PerpetuaApplication
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import (
    build_application,
    build_read_api,
    build_write_api,
    run_projectors,
    run_scheduler,
)
from tests.fakes.deepgram_server import FakeDeepgram
from tests.fakes.google_certs import CLIENT_ID, FakeGoogle
from tests.fakes.openai_server import FakeOpenAI

STARTUP_TIMEOUT_SECONDS = 30
BILLING_SECRET = "e2e-billing-secret"


class ServerThread:
    """uvicorn on an ephemeral loopback port, in a thread of this test process."""

    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,  # as perpetua.serve runs them
        )
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
        return self.sign_up(email)[0]

    def sign_in_user(self, email: str | None = None) -> tuple[dict[str, str], str]:
        """A new user (unless `email` is given): their auth header and their id."""
        headers, user_id, _ = self.sign_up(email)
        return headers, str(user_id)

    def sign_up(self, email: str | None = None) -> tuple[dict[str, str], uuid.UUID, str]:
        """A new user: their auth header, their id, and the position of their sign-in."""
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        response = self.write.post(
            "/api/v1/auth/dev-login", json={"email": email, "name": "Tester"}
        )
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        return (
            {"Authorization": f"Bearer {data['access_token']}"},
            uuid.UUID(data["user"]["id"]),
            response.headers["X-Event-Position"],
        )

    def billing(
        self, body: dict[str, Any] | bytes, *, secret: str = BILLING_SECRET
    ) -> httpx.Response:
        """POST a billing event signed the way the provider signs it."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        return self.write.post(
            "/api/v1/webhooks/billing",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "X-Perpetua-Signature": f"sha256={signature}",
            },
        )

    def create_task(self, headers: dict[str, str], **body: Any) -> httpx.Response:
        body.setdefault("title", "Write the report")
        response = self.write.post("/api/v1/tasks", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response


@dataclass(frozen=True)
class FakeProviders:
    openai: FakeOpenAI
    deepgram: FakeDeepgram


def service_settings(
    database: DatabaseAddress,
    data_dir: Path,
    google: FakeGoogle | None = None,
    providers: FakeProviders | None = None,
) -> Settings:
    url = (
        f"postgresql://{database.user}:{database.password}@/{database.dbname}"
        f"?host={database.host}&port={database.port}"
    )
    ai: dict[str, Any] = {}
    if providers is not None:
        ai = {
            "openai_api_key": "test-openai-key",
            "openai_base_url": providers.openai.base_url,
            "deepgram_api_key": providers.deepgram.api_key,
            "deepgram_base_url": providers.deepgram.base_url,
            # A provider that hangs is given up on quickly, and a failure is not retried, so
            # tests can count the calls a request makes.
            "ai_timeout_seconds": 1.0,
            "ai_max_retries": 0,
        }
    # Every test signs in users of its own from 127.0.0.1: lift the per-IP sign-in limit.
    return Settings(
        **ai,
        database_url=url,
        perpetua_env="dev",
        perpetua_data_dir=data_dir,
        auth_requests_per_minute=100_000,
        billing_webhook_secret=BILLING_SECRET,
        google_client_ids=[CLIENT_ID] if google else [],
        google_certs_url=google.certs_url if google else "http://127.0.0.1:9/unused",
        # Reminders a few seconds ahead fire within a fraction of a second of their time.
        scheduler_tick_seconds=0.2,
        scheduler_metrics_port=0,
    )


# Package scope: the service (and its few dozen database connections) lives while the tests
# of one package run, and is gone before the integration tests start services of their own.
@pytest.fixture(scope="package")
def store(database: DatabaseAddress) -> Iterator[PerpetuaApplication]:
    """The service's event store, for tests that save aggregates themselves, as a command would."""
    app = build_application(Settings(), database)
    yield app
    app.close()


@pytest.fixture(scope="session")
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake


@pytest.fixture(scope="session")
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="session")
def deepgram_fake() -> Iterator[FakeDeepgram]:
    with FakeDeepgram() as fake:
        yield fake


@pytest.fixture(scope="package")
def service(
    database: DatabaseAddress,
    tmp_path_factory: pytest.TempPathFactory,
    google: FakeGoogle,
    openai_fake: FakeOpenAI,
    deepgram_fake: FakeDeepgram,
) -> Iterator[Service]:
    providers = FakeProviders(openai_fake, deepgram_fake)
    settings = service_settings(database, tmp_path_factory.mktemp("service"), google, providers)
    stop = threading.Event()
    projector = threading.Thread(target=run_projectors, args=(settings, [], stop), daemon=True)
    projector.start()
    scheduler = threading.Thread(target=run_scheduler, args=(settings, stop), daemon=True)
    scheduler.start()
    with (
        ServerThread(build_write_api(settings)) as write_url,
        ServerThread(build_read_api(settings)) as read_url,
        httpx.Client(base_url=write_url, timeout=10) as write,
        httpx.Client(base_url=read_url, timeout=10) as read,
    ):
        yield Service(write=write, read=read, settings=settings)
    stop.set()
    projector.join(timeout=10)
    scheduler.join(timeout=10)
