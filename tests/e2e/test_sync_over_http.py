"""GET /sync: what changed since the client's last position, in one call."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def sync(service: Service, headers: dict[str, str], since: int, wait_for: str) -> Any:
    response = service.read.get(
        "/api/v1/sync", params={"since": since}, headers={**headers, "X-Min-Position": wait_for}
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_sync_returns_changes_then_nothing_then_only_the_new(service: Service) -> None:
    alice = service.sign_in()
    kept = service.create_task(alice, title="kept").json()["data"]["id"]
    gone = service.create_task(alice, title="gone")
    gone_id = gone.json()["data"]["id"]
    first = sync(service, alice, 0, gone.headers["X-Event-Position"])
    assert {t["title"] for t in first["tasks"]} == {"kept", "gone"}
    assert first["profile"]["email"].endswith("@example.com")
    assert first["has_more"] is False

    quiet = sync(service, alice, first["position"], str(first["position"]))
    assert (quiet["tasks"], quiet["deleted_task_ids"], quiet["profile"]) == ([], [], None)

    renamed = service.write.patch(
        f"/api/v1/tasks/{kept}", json={"version": 1, "title": "renamed"}, headers=alice
    )
    deleted = service.write.delete(f"/api/v1/tasks/{gone_id}", headers=alice)
    assert renamed.status_code == deleted.status_code == 200
    later = sync(service, alice, first["position"], deleted.headers["X-Event-Position"])
    assert [t["title"] for t in later["tasks"]] == ["renamed"]
    assert later["deleted_task_ids"] == [gone_id]
    assert later["position"] >= int(deleted.headers["X-Event-Position"])


def test_sync_shows_only_your_own_changes(service: Service) -> None:
    alice, bob = service.sign_in(), service.sign_in()
    created = service.create_task(alice, title="alice's")
    seen = sync(service, bob, 0, created.headers["X-Event-Position"])
    assert seen["tasks"] == []


@pytest.mark.parametrize("since", ["-1", "soon", "1.5"])
def test_bad_since_is_422(service: Service, since: str) -> None:
    response = service.read.get("/api/v1/sync", params={"since": since}, headers=service.sign_in())
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
