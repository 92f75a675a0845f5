"""Idempotency-Key on commands: a retry runs once and replays the first answer."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def titles(service: Service, headers: dict[str, str], position: str) -> list[str]:
    response = service.read.get("/api/v1/tasks", headers={**headers, "X-Min-Position": position})
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()["data"]]


def test_a_retried_create_runs_once_and_replays_its_answer(service: Service) -> None:
    alice = service.sign_in()
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    first = service.write.post("/api/v1/tasks", json={"title": "Once"}, headers={**alice, **key})
    again = service.write.post("/api/v1/tasks", json={"title": "Once"}, headers={**alice, **key})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.json() == first.json()
    assert again.headers["X-Event-Position"] == first.headers["X-Event-Position"]
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    assert titles(service, alice, first.headers["X-Event-Position"]) == ["Once"]


def test_a_key_reused_for_another_request_is_refused(service: Service) -> None:
    alice = service.sign_in()
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = service.write.post("/api/v1/tasks", json={"title": "A"}, headers={**alice, **key})
    assert first.status_code == 201
    other_body = service.write.post("/api/v1/tasks", json={"title": "B"}, headers={**alice, **key})
    task_id = first.json()["data"]["id"]
    other_path = service.write.post(f"/api/v1/tasks/{task_id}/complete", headers={**alice, **key})
    for response in (other_body, other_path):
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert titles(service, alice, first.headers["X-Event-Position"]) == ["A"]


def test_keys_belong_to_their_user(service: Service) -> None:
    alice, bob = service.sign_in(), service.sign_in()
    key = {"Idempotency-Key": "same-key-for-both"}
    for user, title in ((alice, "alice's"), (bob, "bob's")):
        response = service.write.post(
            "/api/v1/tasks", json={"title": title}, headers={**user, **key}
        )
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers
        assert response.json()["data"]["title"] == title


def test_an_error_answer_is_replayed_too(service: Service) -> None:
    alice = service.sign_in()
    key = {"Idempotency-Key": f"bad-{uuid.uuid4()}"}
    body: dict[str, Any] = {"title": ""}
    first = service.write.post("/api/v1/tasks", json=body, headers={**alice, **key})
    again = service.write.post("/api/v1/tasks", json=body, headers={**alice, **key})
    assert (first.status_code, again.status_code) == (422, 422)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ünïcode"])
def test_malformed_keys_are_refused_and_create_nothing(service: Service, key: str) -> None:
    alice = service.sign_in()
    response = service.write.post(
        "/api/v1/tasks",
        json={"title": "never"},
        headers=[*alice.items(), ("Idempotency-Key", key.encode())],
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    marker = service.create_task(alice, title="marker")
    assert titles(service, alice, marker.headers["X-Event-Position"]) == ["marker"]


def test_a_patch_retried_with_its_key_does_not_conflict_with_itself(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    key = {"Idempotency-Key": f"patch-{uuid.uuid4()}"}
    body = {"version": 1, "title": "Renamed once"}
    first = service.write.patch(f"/api/v1/tasks/{task_id}", json=body, headers={**alice, **key})
    again = service.write.patch(f"/api/v1/tasks/{task_id}", json=body, headers={**alice, **key})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["data"]["version"] == 2


def test_concurrent_duplicates_create_one_task(service: Service) -> None:
    alice = service.sign_in()
    headers = {**alice, "Idempotency-Key": f"race-{uuid.uuid4()}"}
    start = threading.Barrier(4)
    statuses: list[int] = []
    positions: list[str] = []

    def send() -> None:
        with httpx.Client(base_url=str(service.write.base_url), timeout=10) as client:
            start.wait()
            response = client.post("/api/v1/tasks", json={"title": "Raced"}, headers=headers)
        statuses.append(response.status_code)
        if response.status_code == 201:
            positions.append(response.headers["X-Event-Position"])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    assert len(set(positions)) == 1
    assert titles(service, alice, positions[0]) == ["Raced"]


def test_a_retry_spelling_the_same_json_differently_is_the_same_request(service: Service) -> None:
    headers = {**service.sign_in(), "Idempotency-Key": f"spelling-{uuid.uuid4()}"}
    compact = b'{"title":"Same","priority":"high"}'
    spaced = b'{ "priority": "high",  "title": "Same" }'
    first = service.write.post(
        "/api/v1/tasks", content=compact, headers={**headers, "Content-Type": "application/json"}
    )
    again = service.write.post(
        "/api/v1/tasks", content=spaced, headers={**headers, "Content-Type": "application/json"}
    )
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
