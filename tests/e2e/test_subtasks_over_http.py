"""Subtasks over HTTP, as the task screen sees them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def detail(service: Service, headers: dict[str, str], task_id: str, position: str) -> Any:
    response = service.read.get(
        f"/api/v1/tasks/{task_id}", headers={**headers, "X-Min-Position": position}
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def add(service: Service, headers: dict[str, str], task_id: str, title: str) -> Any:
    response = service.write.post(
        f"/api/v1/tasks/{task_id}/subtasks", json={"title": title}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response


def test_subtasks_are_added_listed_and_counted(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    first = add(service, alice, task_id, "Book flights").json()
    assert (first["data"]["title"], first["data"]["position"]) == ("Book flights", 0)
    last = add(service, alice, task_id, "Pack")
    task = detail(service, alice, task_id, last.headers["X-Event-Position"])
    assert [(s["title"], s["position"]) for s in task["subtasks"]] == [
        ("Book flights", 0),
        ("Pack", 1),
    ]
    assert (task["subtask_count"], task["subtasks_completed"], task["version"]) == (2, 0, 3)
    listed = service.read.get(
        "/api/v1/tasks", headers={**alice, "X-Min-Position": last.headers["X-Event-Position"]}
    ).json()["data"]
    assert listed[0]["subtask_count"] == 2


def test_last_subtask_completes_the_task_and_reopening_reopens_it(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    one = add(service, alice, task_id, "one").json()["data"]["id"]
    two = add(service, alice, task_id, "two").json()["data"]["id"]
    service.write.post(f"/api/v1/tasks/{task_id}/subtasks/{one}/complete", headers=alice)
    done = service.write.post(f"/api/v1/tasks/{task_id}/subtasks/{two}/complete", headers=alice)
    assert done.status_code == 200
    assert (done.json()["data"]["completed"], done.json()["data"]["completed_by"]) == (True, "auto")
    task = detail(service, alice, task_id, done.headers["X-Event-Position"])
    assert (task["completed"], task["subtasks_completed"]) == (True, 2)

    reopened = service.write.post(f"/api/v1/tasks/{task_id}/subtasks/{two}/reopen", headers=alice)
    task = detail(service, alice, task_id, reopened.headers["X-Event-Position"])
    assert (task["completed"], task["completed_by"], task["subtasks_completed"]) == (False, None, 1)


def test_complete_with_open_subtasks_needs_force(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    add(service, alice, task_id, "open")
    refused = service.write.post(f"/api/v1/tasks/{task_id}/complete", headers=alice)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "SUBTASKS_INCOMPLETE"
    forced = service.write.post(
        f"/api/v1/tasks/{task_id}/complete", params={"force": "true"}, headers=alice
    )
    assert forced.status_code == 200
    task = detail(service, alice, task_id, forced.headers["X-Event-Position"])
    assert (task["completed_by"], task["subtasks"][0]["completed"]) == ("force", True)


def test_free_users_get_four_subtasks_per_task(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    for number in range(4):
        add(service, alice, task_id, f"s{number}")
    fifth = service.write.post(
        f"/api/v1/tasks/{task_id}/subtasks", json={"title": "s4"}, headers=alice
    )
    assert fifth.status_code == 409
    assert fifth.json()["error"]["code"] == "SUBTASK_LIMIT_EXCEEDED"


def test_rename_reorder_and_remove(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    ids = [add(service, alice, task_id, t).json()["data"]["id"] for t in ("a", "b", "c")]
    base = f"/api/v1/tasks/{task_id}/subtasks"
    renamed = service.write.patch(f"{base}/{ids[0]}", json={"title": "A"}, headers=alice)
    assert renamed.status_code == 200
    reordered = service.write.put(
        f"{base}/order", json={"subtask_ids": [ids[2], ids[0], ids[1]]}, headers=alice
    )
    assert reordered.status_code == 200
    assert [s["title"] for s in reordered.json()["data"]["subtasks"]] == ["c", "A", "b"]
    removed = service.write.delete(f"{base}/{ids[0]}", headers=alice)
    task = detail(service, alice, task_id, removed.headers["X-Event-Position"])
    assert [(s["title"], s["position"]) for s in task["subtasks"]] == [("c", 0), ("b", 1)]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("POST", "", {"title": ""}),
        ("POST", "", {"title": "x" * 201}),
        ("POST", "", {"name": "wrong field"}),
        ("PATCH", "/{sid}", {"title": "   "}),
        ("PUT", "/order", {"subtask_ids": []}),
        ("PUT", "/order", {"subtask_ids": ["not-a-uuid"]}),
        ("PUT", "/order", {"subtask_ids": ["{sid}", "{sid}"]}),
        ("POST", "/not-a-uuid/complete", None),
    ],
)
def test_bad_subtask_requests_are_422_and_change_nothing(
    service: Service, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    created = add(service, alice, task_id, "keep")
    sid = created.json()["data"]["id"]
    path = f"/api/v1/tasks/{task_id}/subtasks{suffix.replace('{sid}', sid)}"
    if body and "subtask_ids" in body:
        body = {"subtask_ids": [i.replace("{sid}", sid) for i in body["subtask_ids"]]}
    response = service.write.request(method, path, json=body, headers=alice)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    task = detail(service, alice, task_id, created.headers["X-Event-Position"])
    assert ([s["title"] for s in task["subtasks"]], task["version"]) == (["keep"], 2)


def test_unknown_subtask_and_other_users_task_are_404(service: Service) -> None:
    alice, mallory = service.sign_in(), service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    sid = add(service, alice, task_id, "mine").json()["data"]["id"]
    base = f"/api/v1/tasks/{task_id}/subtasks"
    missing = service.write.post(f"{base}/{uuid.uuid4()}/complete", headers=alice)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
    for response in (
        service.write.post(base, json={"title": "x"}, headers=mallory),
        service.write.post(f"{base}/{sid}/complete", headers=mallory),
        service.write.delete(f"{base}/{sid}", headers=mallory),
    ):
        assert (response.status_code, response.json()["error"]["code"]) == (404, "TASK_NOT_FOUND")
