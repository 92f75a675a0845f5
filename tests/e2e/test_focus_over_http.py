"""Focus sessions over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def read(service: Service, path: str, headers: dict[str, str], position: str) -> Any:
    response = service.read.get(path, headers={**headers, "X-Min-Position": position})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_start_end_and_the_reads_that_follow(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    started = service.write.post(
        "/api/v1/focus/start", json={"task_id": task_id, "planned_minutes": 25}, headers=alice
    )
    assert started.status_code == 201, started.text
    session = started.json()["data"]
    active = read(service, "/api/v1/focus/active", alice, started.headers["X-Event-Position"])
    assert (active["id"], active["ended_at"]) == (session["id"], None)

    again = service.write.post(
        "/api/v1/focus/start", json={"task_id": task_id, "planned_minutes": 25}, headers=alice
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "FOCUS_ALREADY_ACTIVE")

    ended = service.write.post(
        f"/api/v1/focus/{session['id']}/end", json={"completed": False}, headers=alice
    )
    assert ended.status_code == 200
    assert ended.json()["data"]["ended_at"] is not None
    position = ended.headers["X-Event-Position"]
    assert read(service, "/api/v1/focus/active", alice, position) is None
    sessions = read(service, "/api/v1/focus/sessions", alice, position)
    assert [s["id"] for s in sessions] == [session["id"]]
    task = read(service, f"/api/v1/tasks/{task_id}", alice, position)
    assert task["focus_time_seconds"] == ended.json()["data"]["elapsed_seconds"]

    twice = service.write.post(
        f"/api/v1/focus/{session['id']}/end", json={"completed": False}, headers=alice
    )
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "FOCUS_NOT_ACTIVE")


@pytest.mark.parametrize(
    "body",
    [
        {"task_id": "not-a-uuid", "planned_minutes": 25},
        {"planned_minutes": 25},
        {"task_id": "{task}", "planned_minutes": 0},
        {"task_id": "{task}", "planned_minutes": 721},
        {"task_id": "{task}"},
    ],
)
def test_bad_starts_are_422(service: Service, body: dict[str, Any]) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    body = {k: (task_id if v == "{task}" else v) for k, v in body.items()}
    response = service.write.post("/api/v1/focus/start", json=body, headers=alice)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_someone_elses_task_or_session_is_404(service: Service) -> None:
    alice, mallory = service.sign_in(), service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    theirs = service.write.post(
        "/api/v1/focus/start", json={"task_id": task_id, "planned_minutes": 25}, headers=mallory
    )
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "TASK_NOT_FOUND")
    session_id = service.write.post(
        "/api/v1/focus/start", json={"task_id": task_id, "planned_minutes": 25}, headers=alice
    ).json()["data"]["id"]
    for sid in (session_id, str(uuid.uuid4())):
        response = service.write.post(
            f"/api/v1/focus/{sid}/end", json={"completed": True}, headers=mallory
        )
        assert response.status_code == 404
    bad_end = service.write.post(f"/api/v1/focus/{session_id}/end", json={}, headers=alice)
    assert bad_end.status_code == 422
