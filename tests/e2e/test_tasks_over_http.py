"""Tasks through both apps over real HTTP: write, project, read back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def read_after(
    service: Service, path: str, headers: dict[str, str], position: str | int, **params: Any
) -> Any:
    response = service.read.get(
        path, headers={**headers, "X-Min-Position": str(position)}, params=params
    )
    assert response.status_code == 200, response.text
    return response


def test_created_task_can_be_read_back_at_once(service: Service) -> None:
    alice = service.sign_in()
    created = service.create_task(alice, title="Buy milk", priority="high")
    position = created.headers["X-Event-Position"]
    body = created.json()
    assert body["meta"]["position"] == int(position)
    assert body["data"]["version"] == 1

    read = read_after(service, f"/api/v1/tasks/{body['data']['id']}", alice, position)
    assert read.json()["data"]["title"] == "Buy milk"
    assert read.json()["data"]["priority"] == "high"
    assert int(read.headers["X-Projection-Position"]) >= int(position)


def test_update_complete_and_reopen_show_up_in_reads(service: Service) -> None:
    alice = service.sign_in()
    task = service.create_task(alice).json()["data"]
    patched = service.write.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"version": 1, "title": "Renamed", "estimated_duration": 45},
        headers=alice,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["version"] == 2

    completed = service.write.post(f"/api/v1/tasks/{task['id']}/complete", headers=alice)
    assert completed.status_code == 200
    row = read_after(
        service, f"/api/v1/tasks/{task['id']}", alice, completed.headers["X-Event-Position"]
    ).json()["data"]
    assert (row["title"], row["estimated_duration"], row["completed"], row["completed_by"]) == (
        "Renamed",
        45,
        True,
        "manual",
    )

    reopened = service.write.post(f"/api/v1/tasks/{task['id']}/reopen", headers=alice)
    row = read_after(
        service, f"/api/v1/tasks/{task['id']}", alice, reopened.headers["X-Event-Position"]
    ).json()["data"]
    assert (row["completed"], row["completed_at"], row["version"]) == (False, None, 4)


def test_another_users_task_is_404_on_every_route(service: Service) -> None:
    alice, mallory = service.sign_in(), service.sign_in()
    created = service.create_task(alice)
    task_id = created.json()["data"]["id"]
    attempts = [
        service.write.patch(
            f"/api/v1/tasks/{task_id}", json={"version": 1, "title": "x"}, headers=mallory
        ),
        service.write.post(f"/api/v1/tasks/{task_id}/complete", headers=mallory),
        service.write.post(f"/api/v1/tasks/{task_id}/reopen", headers=mallory),
        service.read.get(
            f"/api/v1/tasks/{task_id}",
            headers={**mallory, "X-Min-Position": created.headers["X-Event-Position"]},
        ),
    ]
    for response in attempts:
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "TASK_NOT_FOUND"
    listed = read_after(service, "/api/v1/tasks", mallory, created.headers["X-Event-Position"])
    assert listed.json()["data"] == []


def test_stale_version_is_a_conflict_and_changes_nothing(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice, title="Original").json()["data"]["id"]
    first = service.write.patch(
        f"/api/v1/tasks/{task_id}", json={"version": 1, "title": "First"}, headers=alice
    )
    assert first.status_code == 200
    stale = service.write.patch(
        f"/api/v1/tasks/{task_id}", json={"version": 1, "title": "Stale"}, headers=alice
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "VERSION_CONFLICT"
    assert stale.json()["error"]["details"]["current_version"] == 2
    row = read_after(service, f"/api/v1/tasks/{task_id}", alice, first.headers["X-Event-Position"])
    assert row.json()["data"]["title"] == "First"
    assert row.json()["data"]["version"] == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"title": ""}, "VALIDATION_ERROR"),
        ({"title": "   "}, "VALIDATION_ERROR"),
        ({"title": "x" * 201}, "VALIDATION_ERROR"),
        ({"title": "ok", "priority": "urgent"}, "VALIDATION_ERROR"),
        ({"title": "ok", "estimated_duration": -5}, "VALIDATION_ERROR"),
        ({"title": "ok", "estimated_duration": 721}, "VALIDATION_ERROR"),
        ({"title": "ok", "due_date": "2026-01-01T00:00:00"}, "VALIDATION_ERROR"),
        ({"title": "ok", "unknown": 1}, "VALIDATION_ERROR"),
        ({"title": "ok", "description": "d" * 1001}, "DESCRIPTION_TOO_LONG"),
        (
            {"title": "ok", "due_date": (datetime.now(UTC) + timedelta(days=31)).isoformat()},
            "DUE_DATE_TOO_FAR",
        ),
    ],
)
def test_invalid_task_bodies_are_refused_and_create_nothing(
    service: Service, body: dict[str, Any], code: str
) -> None:
    alice = service.sign_in()
    response = service.write.post("/api/v1/tasks", json=body, headers=alice)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["X-Request-ID"]
    marker = service.create_task(alice, title="the only one")
    listed = read_after(service, "/api/v1/tasks", alice, marker.headers["X-Event-Position"])
    assert [task["title"] for task in listed.json()["data"]] == ["the only one"]


def test_malformed_json_is_refused_in_the_envelope(service: Service) -> None:
    alice = service.sign_in()
    response = service.write.post(
        "/api/v1/tasks",
        content=b'{"title": "unterminated',
        headers={**alice, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_requests_without_a_valid_token_are_401(service: Service) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
        write = service.write.post("/api/v1/tasks", content=b"{bad json", headers=headers)
        read = service.read.get("/api/v1/tasks", headers=headers)
        for response in (write, read):
            assert response.status_code == 401, response.text
            assert response.json()["error"]["code"] in {"UNAUTHENTICATED", "INVALID_TOKEN"}


def test_read_waits_at_most_the_configured_time_then_503(service: Service) -> None:
    alice = service.sign_in()
    response = service.read.get("/api/v1/tasks", headers={**alice, "X-Min-Position": "999999999"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "PROJECTION_LAGGING"
    assert int(response.headers["Retry-After"]) >= 1
    assert "X-Projection-Position" in response.headers


def test_bad_min_position_is_a_validation_error(service: Service) -> None:
    alice = service.sign_in()
    response = service.read.get("/api/v1/tasks", headers={**alice, "X-Min-Position": "soon"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_pages_cover_every_task_once_in_order(service: Service) -> None:
    alice = service.sign_in()
    titles = [f"task {number}" for number in range(7)]
    last = None
    for title in titles:
        last = service.create_task(alice, title=title)
    assert last is not None
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3, "sort": "created_at"}
        if cursor:
            params["cursor"] = cursor
        page = read_after(
            service, "/api/v1/tasks", alice, last.headers["X-Event-Position"], **params
        ).json()
        seen += [task["title"] for task in page["data"]]
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            break
    assert seen == titles


def test_filters_and_sorting(service: Service) -> None:
    alice = service.sign_in()
    service.create_task(alice, title="low one", priority="low")
    high = service.create_task(alice, title="high one", priority="high").json()["data"]
    done = service.write.post(f"/api/v1/tasks/{high['id']}/complete", headers=alice)
    position = done.headers["X-Event-Position"]
    by_priority = read_after(service, "/api/v1/tasks", alice, position, sort="-priority").json()
    assert [t["title"] for t in by_priority["data"]] == ["high one", "low one"]
    completed = read_after(service, "/api/v1/tasks", alice, position, completed="true").json()
    assert [t["title"] for t in completed["data"]] == ["high one"]
    low = read_after(service, "/api/v1/tasks", alice, position, priority="low").json()
    assert [t["title"] for t in low["data"]] == ["low one"]


def test_bad_cursor_and_limit_are_validation_errors(service: Service) -> None:
    alice = service.sign_in()
    for params in ({"cursor": "garbage!"}, {"limit": 101}, {"limit": 0}, {"sort": "title"}):
        response = service.read.get("/api/v1/tasks", headers=alice, params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_unchanged_list_answers_304_to_its_etag(service: Service) -> None:
    alice = service.sign_in()
    created = service.create_task(alice)
    first = read_after(service, "/api/v1/tasks", alice, created.headers["X-Event-Position"])
    # Other users' writes move the position, not this user's list.
    other = service.create_task(service.sign_in(), title="someone else's")
    again = service.read.get(
        "/api/v1/tasks",
        headers={
            **alice,
            "If-None-Match": first.headers["ETag"],
            "X-Min-Position": other.headers["X-Event-Position"],
        },
    )
    assert again.status_code == 304
    changed = service.create_task(alice, title="another")
    after = service.read.get(
        "/api/v1/tasks",
        headers={
            **alice,
            "If-None-Match": first.headers["ETag"],
            "X-Min-Position": changed.headers["X-Event-Position"],
        },
    )
    assert after.status_code == 200


def test_unknown_task_id_is_404_and_bad_id_is_422(service: Service) -> None:
    alice = service.sign_in()
    missing = service.write.post(f"/api/v1/tasks/{uuid.uuid4()}/complete", headers=alice)
    assert missing.status_code == 404
    bad = service.write.post("/api/v1/tasks/not-a-uuid/complete", headers=alice)
    assert bad.status_code == 422


def test_both_apps_report_health_and_carry_security_headers(service: Service) -> None:
    for client in (service.write, service.read):
        assert client.get("/health/live").status_code == 200
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.headers["X-Content-Type-Options"] == "nosniff"
        assert ready.headers["X-Frame-Options"] == "DENY"
        assert "X-Request-ID" in ready.headers
        assert "http_requests" in client.get("/metrics").text


def test_jwks_publishes_the_signing_key(service: Service) -> None:
    keys = service.write.get("/.well-known/jwks.json").json()["keys"]
    assert keys
    assert all(key["alg"] == "RS256" and key["kty"] == "RSA" for key in keys)


def test_read_api_metrics_show_projection_position_and_lag(service: Service) -> None:
    alice = service.sign_in()
    created = service.create_task(alice)
    read_after(service, "/api/v1/tasks", alice, created.headers["X-Event-Position"])
    assert service.read.get("/health/ready").status_code == 200
    metrics = service.read.get("/metrics").text
    position = next(
        line
        for line in metrics.splitlines()
        if line.startswith('perpetua_projection_position{projection="task_list"}')
    )
    assert float(position.split()[-1]) >= int(created.headers["X-Event-Position"])
    assert 'perpetua_projection_lag_events{projection="task_list"}' in metrics
    write_metrics = service.write.get("/metrics").text
    assert 'perpetua_events_appended_total{event_type="Task.Created"}' in write_metrics


@pytest.mark.parametrize(
    "body",
    [
        {"title": "no version"},
        {"version": 0, "title": "x"},
        {"version": "one", "title": "x"},
        {"version": 1, "title": None},
        {"version": 1, "priority": None},
        {"version": 1, "title": ""},
        {"version": 1, "priority": "urgent"},
        {"version": 1, "estimated_duration": 0},
        {"version": 1, "completed": True},
        {"version": 1, "due_date": "tomorrow"},
    ],
)
def test_invalid_patches_are_422_and_change_nothing(service: Service, body: dict[str, Any]) -> None:
    alice = service.sign_in()
    created = service.create_task(alice, title="Keep me")
    task_id = created.json()["data"]["id"]
    response = service.write.patch(f"/api/v1/tasks/{task_id}", json=body, headers=alice)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    row = read_after(
        service, f"/api/v1/tasks/{task_id}", alice, created.headers["X-Event-Position"]
    )
    assert (row.json()["data"]["title"], row.json()["data"]["version"]) == ("Keep me", 1)


def test_patch_that_changes_nothing_keeps_the_version(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice, title="Same").json()["data"]["id"]
    response = service.write.patch(
        f"/api/v1/tasks/{task_id}", json={"version": 1, "title": "Same"}, headers=alice
    )
    assert response.status_code == 200
    assert response.json()["data"]["version"] == 1
    assert int(response.headers["X-Event-Position"]) == response.json()["meta"]["position"]


def test_completing_twice_is_a_conflict(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    assert service.write.post(f"/api/v1/tasks/{task_id}/complete", headers=alice).status_code == 200
    again = service.write.post(f"/api/v1/tasks/{task_id}/complete", headers=alice)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "TASK_ALREADY_COMPLETED"
    reopen_open = service.write.post(f"/api/v1/tasks/{task_id}/reopen", headers=alice)
    assert reopen_open.status_code == 200
    twice = service.write.post(f"/api/v1/tasks/{task_id}/reopen", headers=alice)
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "TASK_NOT_COMPLETED"


def test_both_apps_document_their_routes_and_error_codes(service: Service) -> None:
    write = service.write.get("/openapi.json").json()
    read = service.read.get("/openapi.json").json()
    assert "/api/v1/tasks/{task_id}/complete" in write["paths"]
    assert "/api/v1/tasks" in read["paths"]
    create = write["paths"]["/api/v1/tasks"]["post"]["responses"]
    assert "TASK_LIMIT_EXCEEDED" in create["409"]["description"]
    for client in (service.write, service.read):
        assert client.get("/docs").status_code == 200


def test_min_position_also_works_as_a_query_parameter(service: Service) -> None:
    alice = service.sign_in()
    created = service.create_task(alice, title="by query")
    position = created.headers["X-Event-Position"]
    response = service.read.get(
        f"/api/v1/tasks/{created.json()['data']['id']}",
        params={"min_position": position},
        headers=alice,
    )
    assert response.status_code == 200
    assert int(response.headers["X-Projection-Position"]) >= int(position)
    lagging = service.read.get("/api/v1/tasks", params={"min_position": 10**12}, headers=alice)
    assert lagging.status_code == 503
    assert lagging.json()["error"]["code"] == "PROJECTION_LAGGING"
