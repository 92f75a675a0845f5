"""GET /sync: what changed since the client's last position, in one call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from aggregates.achievements import Achievements
from aggregates.credit_ledger import CreditLedger
from aggregates.inbox import Inbox
from commands.application import PerpetuaApplication
from tests.e2e.conftest import Service
from tests.e2e.support import saved, singleton

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


def test_sync_brings_balance_notifications_and_achievements_when_they_change(
    service: Service, store: PerpetuaApplication
) -> None:
    headers, user_id, signed_in = service.sign_up()
    first = sync(service, headers, 0, signed_in)
    assert first["balance"]["daily_allowance"] == 10
    assert first["achievements"]["stats"]["completed_tasks"] == 0
    quiet = sync(service, headers, first["position"], str(first["position"]))
    assert (quiet["balance"], quiet["achievements"], quiet["notifications"]) == (None, None, [])

    ledger = singleton(store, CreditLedger, user_id)
    ledger.purchase(5, reference="evt_sync")
    inbox = singleton(store, Inbox, user_id)
    inbox.post(kind="credits", key="evt_sync", title="Credits bought", body="5 credits")
    bought = saved(store, ledger, inbox)
    later = sync(service, headers, first["position"], bought)
    assert later["balance"]["purchased"] == 5
    assert [n["title"] for n in later["notifications"]] == ["Credits bought"]
    assert (later["achievements"], later["profile"]) == (None, None)

    achievements = singleton(store, Achievements, user_id)
    achievements.count_task_completion(uuid.uuid4(), at=datetime.now(tz=UTC), timezone="UTC")
    inbox.mark_all_read()
    done = saved(store, achievements, inbox)
    last = sync(service, headers, later["position"], done)
    assert last["achievements"]["stats"]["completed_tasks"] == 1
    # Achievements move the effective limits, so the profile comes along with them.
    assert last["profile"]["limits"]["active_tasks"] == 50
    assert [(n["title"], n["read"]) for n in last["notifications"]] == [("Credits bought", True)]
    assert last["position"] >= int(done)
