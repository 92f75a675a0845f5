"""The read API's page cache against its two limits: a newer projection position, and the max
age. Rows are also changed behind the projector's back (no tracking, no NOTIFY: what a missed
NOTIFY looks like to the read API), which only a cached answer can hide."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from commands.application import PerpetuaApplication
from commands.messages import Actor, CreateTask, SignIn, UpdateTask
from infra.database import DatabaseAddress
from infra.keys import load_key_set
from infra.settings import Settings
from infra.tokens import TokenIssuer
from perpetua.wiring import build_application, build_read_api, build_views
from projections.task_list import TaskListProjection
from projectors.runner import ProjectionWorker
from readapi.page_cache import PageCache
from tests.e2e.conftest import ServerThread, service_settings

pytestmark = pytest.mark.integration

TASKS = "/api/v1/tasks"
MAX_AGE = 1.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Running:
    app: PerpetuaApplication
    address: DatabaseAddress
    read: httpx.Client
    auth: dict[str, str]
    actor: Actor
    task_id: uuid.UUID
    clock: FakeClock

    def titles(self, **headers: str) -> list[str]:
        response = self.read.get(TASKS, headers={**self.auth, **headers})
        assert response.status_code == 200, response.text
        return [task["title"] for task in response.json()["data"]]

    def rename_behind_the_projectors_back(self, title: str) -> None:
        with psycopg.connect(self.address.conninfo, autocommit=True) as conn:
            conn.execute("UPDATE read.tasks SET title = %s WHERE id = %s", (title, self.task_id))


def running_service(databases: Any, tmp_path: Path, **settings_values: Any) -> Iterator[Running]:
    address: DatabaseAddress = databases.create()
    app = build_application(Settings(), address)
    owner = app.sign_in(SignIn("dev", "cache@example.com", "cache@example.com", "C")).user.id
    actor = Actor(owner, tier="pro")
    created = app.create_task(CreateTask(actor=actor, title="v1"))
    view = build_views(address, ["task_list"])["task_list"]
    worker = ProjectionWorker(app, TaskListProjection(view))  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    settings = service_settings(address, tmp_path).model_copy(update=settings_values)
    read_app = build_read_api(settings)
    clock = FakeClock()
    read_app.state.page_cache = PageCache(settings.read_cache_size, MAX_AGE, clock=clock)
    issuer = TokenIssuer(
        load_key_set(settings, need_private=True),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=600,
    )
    token, _ = issuer.issue(owner, "pro")
    try:
        with ServerThread(read_app) as url, httpx.Client(base_url=url, timeout=10) as read:
            running = Running(
                app, address, read, {"Authorization": f"Bearer {token}"}, actor,
                created.aggregate.id, clock,
            )  # fmt: skip
            assert running.titles(**{"X-Min-Position": str(created.position)}) == ["v1"]
            yield running
    finally:
        worker.stop()
        thread.join(timeout=10)
        view.datastore.close()
        app.close()


@pytest.fixture
def cached(databases: Any, tmp_path: Path) -> Iterator[Running]:
    yield from running_service(databases, tmp_path, read_cache_size=16)


@pytest.fixture
def uncached(databases: Any, tmp_path: Path) -> Iterator[Running]:
    yield from running_service(databases, tmp_path, read_cache_size=0)


def test_a_cached_page_is_served_until_a_newer_position_is_known(cached: Running) -> None:
    cached.rename_behind_the_projectors_back("unannounced")
    assert cached.titles() == ["v1"]  # the cached answer

    renamed = cached.app.update_task(
        UpdateTask(cached.actor, cached.task_id, version=1, changes={"title": "v2"})
    )
    read = cached.read.get(TASKS, headers={**cached.auth, "X-Min-Position": str(renamed.position)})
    assert [task["title"] for task in read.json()["data"]] == ["v2"]
    assert int(read.headers["X-Projection-Position"]) == renamed.position
    assert read.json()["meta"]["position"] == renamed.position
    assert cached.clock.now == 1000.0  # the position did it, not the age


def test_a_cached_page_is_never_older_than_the_max_age(cached: Running) -> None:
    cached.rename_behind_the_projectors_back("unannounced")
    cached.clock.now += MAX_AGE * 0.9
    assert cached.titles() == ["v1"]
    cached.clock.now += MAX_AGE * 0.1
    assert cached.titles() == ["unannounced"]


def test_another_query_is_another_page(cached: Running) -> None:
    cached.rename_behind_the_projectors_back("unannounced")
    found = cached.read.get(TASKS, params={"limit": 10}, headers=cached.auth)
    assert [task["title"] for task in found.json()["data"]] == ["unannounced"]


def test_with_no_room_nothing_is_cached(uncached: Running) -> None:
    uncached.rename_behind_the_projectors_back("unannounced")
    assert uncached.titles() == ["unannounced"]
