"""The activity log over HTTP: every event of the user, filtered, paged and exported."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def story(service: Service) -> tuple[dict[str, str], str, str]:
    """A user who creates, renames (with a request id of theirs) and completes a task."""
    alice = service.sign_in()
    task_id = service.create_task(alice, title="Audit me").json()["data"]["id"]
    service.write.patch(
        f"/api/v1/tasks/{task_id}",
        json={"version": 1, "title": "Audited"},
        headers={**alice, "X-Request-ID": "req-rename-42"},
    )
    sid = service.write.post(
        f"/api/v1/tasks/{task_id}/subtasks", json={"title": "step"}, headers=alice
    ).json()["data"]["id"]
    done = service.write.post(f"/api/v1/tasks/{task_id}/subtasks/{sid}/complete", headers=alice)
    return alice, task_id, done.headers["X-Event-Position"]


def activity(service: Service, headers: dict[str, str], position: str, **params: Any) -> Any:
    response = service.read.get(
        "/api/v1/activity", headers={**headers, "X-Min-Position": position}, params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_every_event_of_the_user_is_in_the_log_newest_first(service: Service) -> None:
    alice, task_id, position = story(service)
    rows = activity(service, alice, position, limit=100)["data"]
    positions = [row["position"] for row in rows]
    assert positions == sorted(positions, reverse=True)
    history = service.read.get(f"/api/v1/tasks/{task_id}/history", headers=alice).json()["data"]
    assert {entry["position"] for entry in history} <= set(positions)
    kinds = {(row["entity_type"], row["action"]) for row in rows}
    assert {
        ("user", "registered"),
        ("user", "signed_in"),
        ("auth_session", "started"),
        ("task", "created"),
        ("task", "updated"),
        ("subtask", "added"),
        ("subtask", "completed"),
        ("task", "completed"),
    } <= kinds
    renamed = next(row for row in rows if row["action"] == "updated")
    assert renamed["request_id"] == "req-rename-42"
    assert renamed["summary"] == "task updated: title"
    assert renamed["entity_id"] == task_id
    # The actor is the user, by id (their registration's row names them).
    registered = next(row for row in rows if row["action"] == "registered")
    assert {row["actor"] for row in rows} == {registered["entity_id"]}


def test_filters_order_and_pages(service: Service) -> None:
    alice, task_id, position = story(service)
    tasks_only = activity(service, alice, position, entity_type="task", order="asc")["data"]
    assert [row["action"] for row in tasks_only] == ["created", "updated", "completed"]
    one = activity(service, alice, position, entity_id=task_id, limit=100)["data"]
    assert {row["entity_id"] for row in one} == {task_id}
    everything = activity(service, alice, position, limit=100)["data"]
    seen: list[int] = []
    cursor = None
    for _ in range(20):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = activity(service, alice, position, **params)
        seen += [row["position"] for row in page["data"]]
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            break
    assert seen == [row["position"] for row in everything]
    last = everything[0]["occurred_at"]
    before = activity(service, alice, position, to=last, limit=100)["data"]
    since = activity(service, alice, position, limit=100, **{"from": last})["data"]
    assert all(row["occurred_at"] < last for row in before)
    assert all(row["occurred_at"] >= last for row in since)
    assert seen[0] in [row["position"] for row in since]
    assert len(before) + len(since) == len(everything)


def test_nobody_sees_anyone_elses_activity(service: Service) -> None:
    _, task_id, position = story(service)
    mallory = service.sign_in()
    rows = activity(service, mallory, position, entity_id=task_id)["data"]
    assert rows == []


@pytest.mark.parametrize(
    "params",
    [
        {"order": "sideways"},
        {"from": "yesterday"},
        {"to": "2026-01-01T00:00:00"},
        {"cursor": "garbage"},
        {"limit": 0},
        {"limit": 101},
        {"entity_id": "not-a-uuid"},
    ],
)
def test_bad_activity_queries_are_422(service: Service, params: dict[str, Any]) -> None:
    response = service.read.get("/api/v1/activity", headers=service.sign_in(), params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_export_streams_the_whole_log_as_jsonl_and_csv(service: Service) -> None:
    alice, _, position = story(service)
    total = len(activity(service, alice, position, limit=100)["data"])
    headers = {**alice, "X-Min-Position": position}
    jsonl = service.read.get("/api/v1/activity/export", params={"format": "jsonl"}, headers=headers)
    assert jsonl.status_code == 200
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    entries = [json.loads(line) for line in jsonl.text.splitlines()]
    assert len(entries) == total
    assert [e["position"] for e in entries] == sorted(e["position"] for e in entries)

    as_csv = service.read.get("/api/v1/activity/export", params={"format": "csv"}, headers=headers)
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(table) == total
    assert table[0]["action"] == "registered"
    bad = service.read.get("/api/v1/activity/export", params={"format": "xml"}, headers=headers)
    assert bad.status_code == 422


def test_sign_ins_refreshes_reuse_and_logouts_are_in_the_log(service: Service) -> None:
    signed_in = service.write.post(
        "/api/v1/auth/dev-login", json={"email": "audit-me@example.com", "name": "A"}
    ).json()["data"]
    headers = {"Authorization": f"Bearer {signed_in['access_token']}"}
    first_token = signed_in["refresh_token"]
    refreshed = service.write.post("/api/v1/auth/refresh", json={"refresh_token": first_token})
    reused = service.write.post("/api/v1/auth/refresh", json={"refresh_token": first_token})
    assert (refreshed.status_code, reused.status_code) == (200, 401)
    again = service.write.post(
        "/api/v1/auth/dev-login", json={"email": "audit-me@example.com", "name": "A"}
    )
    out = service.write.post(
        "/api/v1/auth/logout", json={"refresh_token": again.json()["data"]["refresh_token"]}
    )
    rows = activity(service, headers, out.headers["X-Event-Position"], limit=100)["data"]
    session_events = [
        (r["action"], r["summary"]) for r in rows if r["entity_type"] == "auth_session"
    ]
    assert ("rotated", "auth session rotated") in session_events
    assert ("revoked", "auth session revoked: refresh_token_reused") in session_events
    assert ("revoked", "auth session revoked: logout") in session_events
    assert sum(r["action"] == "signed_in" for r in rows) == 2
