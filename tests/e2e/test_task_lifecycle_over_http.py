"""Hide, archive, delete and restore over HTTP, as the list and recovery screens see them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def read(service: Service, path: str, headers: dict[str, str], position: str, **params: Any) -> Any:
    response = service.read.get(
        path, headers={**headers, "X-Min-Position": position}, params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


def list_titles(
    service: Service, headers: dict[str, str], position: str, **params: Any
) -> list[str]:
    return [t["title"] for t in read(service, "/api/v1/tasks", headers, position, **params)["data"]]


def test_hidden_and_archived_tasks_leave_the_default_list(service: Service) -> None:
    alice = service.sign_in()
    hidden = service.create_task(alice, title="hidden").json()["data"]["id"]
    archived = service.create_task(alice, title="archived").json()["data"]["id"]
    service.create_task(alice, title="visible")
    assert service.write.post(f"/api/v1/tasks/{hidden}/hide", headers=alice).status_code == 200
    last = service.write.post(f"/api/v1/tasks/{archived}/archive", headers=alice)
    assert last.status_code == 200
    assert last.json()["data"]["archived"] is True
    position = last.headers["X-Event-Position"]
    assert list_titles(service, alice, position) == ["visible"]
    assert list_titles(service, alice, position, hidden="true") == ["hidden"]
    assert list_titles(service, alice, position, archived="true") == ["archived"]

    read_only = service.write.patch(
        f"/api/v1/tasks/{archived}", json={"version": 2, "title": "x"}, headers=alice
    )
    assert read_only.status_code == 409
    assert read_only.json()["error"]["code"] == "TASK_ARCHIVED"
    back = service.write.post(f"/api/v1/tasks/{archived}/unarchive", headers=alice)
    shown = service.write.post(f"/api/v1/tasks/{hidden}/unhide", headers=alice)
    assert (back.status_code, shown.status_code) == (200, 200)
    titles = list_titles(service, alice, shown.headers["X-Event-Position"], sort="created_at")
    assert titles == ["hidden", "archived", "visible"]


def test_delete_then_restore_brings_back_the_same_task(service: Service) -> None:
    alice = service.sign_in()
    created = service.create_task(alice, title="Precious", priority="high").json()["data"]
    task_id = created["id"]
    deleted = service.write.delete(f"/api/v1/tasks/{task_id}", headers=alice)
    assert deleted.status_code == 200, deleted.text
    tombstone = deleted.json()["data"]
    assert (tombstone["task_id"], tombstone["title"]) == (task_id, "Precious")
    position = deleted.headers["X-Event-Position"]

    gone = service.read.get(
        f"/api/v1/tasks/{task_id}", headers={**alice, "X-Min-Position": position}
    )
    assert gone.status_code == 404
    assert list_titles(service, alice, position) == []
    recovery = read(service, "/api/v1/recovery", alice, position)["data"]
    assert [(t["task_id"], t["recoverable_until"]) for t in recovery] == [
        (task_id, tombstone["recoverable_until"])
    ]

    restored = service.write.post(f"/api/v1/recovery/{task_id}/restore", headers=alice)
    assert restored.status_code == 200, restored.text
    assert restored.json()["data"]["id"] == task_id
    position = restored.headers["X-Event-Position"]
    task = read(service, f"/api/v1/tasks/{task_id}", alice, position)["data"]
    assert (task["title"], task["priority"], task["version"]) == ("Precious", "high", 3)
    assert read(service, "/api/v1/recovery", alice, position)["data"] == []


def test_deleted_task_refuses_commands_and_restore_twice_is_404(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    assert service.write.delete(f"/api/v1/tasks/{task_id}", headers=alice).status_code == 200
    for response in (
        service.write.delete(f"/api/v1/tasks/{task_id}", headers=alice),
        service.write.post(f"/api/v1/tasks/{task_id}/complete", headers=alice),
        service.write.patch(f"/api/v1/tasks/{task_id}", json={"version": 2}, headers=alice),
    ):
        assert response.status_code == 404, response.text
    assert (
        service.write.post(f"/api/v1/recovery/{task_id}/restore", headers=alice).status_code == 200
    )
    again = service.write.post(f"/api/v1/recovery/{task_id}/restore", headers=alice)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "NOT_FOUND"


def test_other_users_cannot_delete_restore_or_see_tombstones(service: Service) -> None:
    alice, mallory = service.sign_in(), service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    for path in ("hide", "unhide", "archive", "unarchive"):
        response = service.write.post(f"/api/v1/tasks/{task_id}/{path}", headers=mallory)
        assert response.status_code == 404, path
    assert service.write.delete(f"/api/v1/tasks/{task_id}", headers=mallory).status_code == 404
    deleted = service.write.delete(f"/api/v1/tasks/{task_id}", headers=alice)
    restore = service.write.post(f"/api/v1/recovery/{task_id}/restore", headers=mallory)
    assert restore.status_code == 404
    listed = read(service, "/api/v1/recovery", mallory, deleted.headers["X-Event-Position"])
    assert listed["data"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v1/tasks/not-a-uuid"),
        ("POST", "/api/v1/tasks/not-a-uuid/hide"),
        ("POST", "/api/v1/recovery/not-a-uuid/restore"),
    ],
)
def test_malformed_ids_are_422(service: Service, method: str, path: str) -> None:
    response = service.write.request(method, path, headers=service.sign_in())
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_unknown_ids_are_404(service: Service) -> None:
    alice = service.sign_in()
    missing = uuid.uuid4()
    assert service.write.delete(f"/api/v1/tasks/{missing}", headers=alice).status_code == 404
    restore = service.write.post(f"/api/v1/recovery/{missing}/restore", headers=alice)
    assert restore.status_code == 404


def test_recovery_pages_and_refuses_bad_cursors(service: Service) -> None:
    alice = service.sign_in()
    ids = [service.create_task(alice, title=f"t{n}").json()["data"]["id"] for n in range(3)]
    position = "0"
    for task_id in ids:
        position = service.write.delete(f"/api/v1/tasks/{task_id}", headers=alice).headers[
            "X-Event-Position"
        ]
    first = read(service, "/api/v1/recovery", alice, position, limit=2)
    second = read(service, "/api/v1/recovery", alice, position, cursor=first["meta"]["next_cursor"])
    titles = [t["title"] for t in first["data"] + second["data"]]
    assert titles == ["t2", "t1", "t0"]
    assert second["meta"]["next_cursor"] is None
    for params in ({"cursor": "nope"}, {"limit": 0}, {"limit": 101}):
        bad = service.read.get("/api/v1/recovery", headers=alice, params=params)
        assert bad.status_code == 422, params
