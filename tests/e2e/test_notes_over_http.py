"""Text notes on a task over HTTP."""

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


def test_notes_are_added_edited_removed_and_counted(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    base = f"/api/v1/tasks/{task_id}/notes"
    added = service.write.post(base, json={"content": "Call the venue"}, headers=alice)
    assert added.status_code == 201, added.text
    note = added.json()["data"]
    assert (note["content"], note["source"]) == ("Call the venue", "text")
    second = service.write.post(base, json={"content": "Bring cake"}, headers=alice)
    task = detail(service, alice, task_id, second.headers["X-Event-Position"])
    assert [n["content"] for n in task["notes"]] == ["Call the venue", "Bring cake"]
    assert task["note_count"] == 2

    edited = service.write.patch(f"{base}/{note['id']}", json={"content": "Called"}, headers=alice)
    assert edited.status_code == 200
    removed = service.write.delete(f"{base}/{second.json()['data']['id']}", headers=alice)
    task = detail(service, alice, task_id, removed.headers["X-Event-Position"])
    assert ([n["content"] for n in task["notes"]], task["note_count"]) == (["Called"], 1)


def test_free_users_get_ten_notes_per_task(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    base = f"/api/v1/tasks/{task_id}/notes"
    for number in range(10):
        assert service.write.post(base, json={"content": f"n{number}"}, headers=alice).is_success
    over = service.write.post(base, json={"content": "one more"}, headers=alice)
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "NOTE_LIMIT_EXCEEDED"


@pytest.mark.parametrize(
    "body", [{"content": ""}, {"content": "   "}, {"content": "x" * 2001}, {"text": "hi"}, {}]
)
def test_bad_notes_are_422_and_add_nothing(service: Service, body: dict[str, Any]) -> None:
    alice = service.sign_in()
    created = service.create_task(alice)
    task_id = created.json()["data"]["id"]
    response = service.write.post(f"/api/v1/tasks/{task_id}/notes", json=body, headers=alice)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert detail(service, alice, task_id, created.headers["X-Event-Position"])["notes"] == []


def test_unknown_notes_and_other_users_tasks_are_404(service: Service) -> None:
    alice, mallory = service.sign_in(), service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    base = f"/api/v1/tasks/{task_id}/notes"
    missing = service.write.delete(f"{base}/{uuid.uuid4()}", headers=alice)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
    theirs = service.write.post(base, json={"content": "x"}, headers=mallory)
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "TASK_NOT_FOUND")
