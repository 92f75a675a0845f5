"""Recurring templates over HTTP: create, read with next occurrences, edit, pause, resume,
delete; bad input, strangers and anonymous callers."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e

DAILY_AT_NINE = "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"


def create(service: Service, headers: dict[str, str], **body: Any) -> Any:
    body.setdefault("title", "Water the plants")
    body.setdefault("rrule", DAILY_AT_NINE)
    response = service.write.post("/api/v1/templates", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response


def read(service: Service, headers: dict[str, str], path: str, position: str) -> Any:
    response = service.read.get(
        f"/api/v1/templates{path}", headers={**headers, "X-Min-Position": position}
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_a_template_is_created_in_the_users_zone_and_read_with_its_next_occurrences(
    service: Service,
) -> None:
    alice = service.sign_in()
    profile = service.write.patch(
        "/api/v1/users/me", json={"timezone": "Europe/Amsterdam"}, headers=alice
    )
    assert profile.status_code == 200, profile.text
    created = create(service, alice, subtasks=["fill the can", "water"], priority="high")
    template = created.json()["data"]
    assert (template["timezone"], template["paused"], template["version"]) == (
        "Europe/Amsterdam",
        False,
        1,
    )

    position = created.headers["X-Event-Position"]
    listed = read(service, alice, "", position)
    assert [t["id"] for t in listed] == [template["id"]]
    detail = read(service, alice, f"/{template['id']}", position)
    assert detail["subtasks"] == ["fill the can", "water"]
    upcoming = [datetime.fromisoformat(t) for t in detail["next_occurrences"]]
    assert len(upcoming) == 5
    assert upcoming[0] == datetime.fromisoformat(template["next_occurrence_at"])
    local = [moment.astimezone(ZoneInfo("Europe/Amsterdam")) for moment in upcoming]
    assert {f"{moment:%H:%M}" for moment in local} == {"09:00"}
    days = [moment.date() for moment in local]
    assert all((later - earlier).days == 1 for earlier, later in itertools.pairwise(days))


def test_a_template_is_edited_paused_resumed_and_deleted(service: Service) -> None:
    alice = service.sign_in()
    template = create(service, alice).json()["data"]
    url = f"/api/v1/templates/{template['id']}"
    edited = service.write.patch(
        url, json={"version": 1, "title": "Plan the week", "rrule": "FREQ=WEEKLY"}, headers=alice
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["data"]["title"], edited.json()["data"]["rrule"]) == (
        "Plan the week",
        "FREQ=WEEKLY",
    )
    stale = service.write.patch(url, json={"version": 1, "title": "x"}, headers=alice)
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "VERSION_CONFLICT")

    paused = service.write.post(f"{url}/pause", headers=alice)
    assert paused.json()["data"]["paused"] is True
    detail = read(service, alice, f"/{template['id']}", paused.headers["X-Event-Position"])
    assert (detail["paused"], detail["next_occurrences"]) == (True, [])
    resumed = service.write.post(f"{url}/resume", headers=alice)
    assert resumed.json()["data"]["next_occurrence_at"] is not None

    deleted = service.write.delete(url, headers=alice)
    assert (deleted.status_code, deleted.json()["data"]["deleted"]) == (200, True)
    position = deleted.headers["X-Event-Position"]
    assert read(service, alice, "", position) == []
    gone = service.read.get(url, headers={**alice, "X-Min-Position": position})
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "TEMPLATE_NOT_FOUND")


@pytest.mark.parametrize(
    "body",
    [
        {"rrule": "FREQ=SOMETIMES"},
        {"rrule": "FREQ=MINUTELY;INTERVAL=15"},
        {"rrule": "FREQ=HOURLY;BYMINUTE=0,30"},
        {"rrule": ""},
        {"timezone": "Atlantis/Capital"},
        {"starts_at": "2026-01-01T09:00:00"},  # no offset
        {"title": ""},
        {"priority": "urgent"},
        {"subtasks": ["a", "b", "c", "d", "e"]},  # free users get 4
        {"colour": "blue"},
    ],
)
def test_bad_templates_are_refused_in_the_envelope(service: Service, body: dict[str, Any]) -> None:
    alice = service.sign_in()
    payload = {"title": "Water the plants", "rrule": DAILY_AT_NINE, **body}
    response = service.write.post("/api/v1/templates", json=payload, headers=alice)
    expected = 409 if "subtasks" in body else 422
    assert response.status_code == expected, response.text
    error = response.json()["error"]
    assert error["code"] in {"VALIDATION_ERROR", "SUBTASK_LIMIT_EXCEEDED"}
    assert error["request_id"] == response.headers["X-Request-ID"]


def test_bad_input_on_every_other_template_endpoint_is_422(service: Service) -> None:
    alice = service.sign_in()
    url = f"/api/v1/templates/{create(service, alice).json()['data']['id']}"
    bad = [
        service.write.patch(url, json={"version": 1, "rrule": "FREQ=MINUTELY"}, headers=alice),
        service.write.patch(url, json={"version": 1, "timezone": None}, headers=alice),
        service.write.patch(url, json={"title": "no version"}, headers=alice),
        service.write.post("/api/v1/templates/not-a-uuid/pause", headers=alice),
        service.write.post("/api/v1/templates/not-a-uuid/resume", headers=alice),
        service.write.delete("/api/v1/templates/not-a-uuid", headers=alice),
        service.read.get("/api/v1/templates", params={"limit": 0}, headers=alice),
        service.read.get("/api/v1/templates", params={"cursor": "nonsense"}, headers=alice),
        service.read.get("/api/v1/templates/not-a-uuid", headers=alice),
    ]
    for response in bad:
        assert response.status_code == 422, (response.request.url, response.text)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_someone_elses_template_is_404_and_no_token_is_401(service: Service) -> None:
    alice, mallory = service.sign_in(), service.sign_in()
    created = create(service, alice)
    url = f"/api/v1/templates/{created.json()['data']['id']}"
    position = created.headers["X-Event-Position"]
    calls = [
        (service.write, "PATCH", url, {"version": 1, "title": "mine now"}),
        (service.write, "POST", f"{url}/pause", None),
        (service.write, "POST", f"{url}/resume", None),
        (service.write, "DELETE", url, None),
        (service.read, "GET", url, None),
    ]
    for client, method, path, body in calls:
        theirs = client.request(
            method, path, json=body, headers={**mallory, "X-Min-Position": position}
        )
        assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "TEMPLATE_NOT_FOUND")
        assert client.request(method, path, json=body).status_code == 401
    assert read(service, mallory, "", position) == []
    assert service.read.get("/api/v1/templates").status_code == 401
    assert service.write.post("/api/v1/templates", json={}).status_code == 401
    unknown = service.write.post(f"/api/v1/templates/{uuid.uuid4()}/pause", headers=alice)
    assert unknown.status_code == 404
