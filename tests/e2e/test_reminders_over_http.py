"""Reminders over HTTP: set, shown and counted, changed, removed; bad input and strangers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e


def soon(**delta: float) -> str:
    return (datetime.now(tz=UTC) + timedelta(**delta)).isoformat()


def detail(service: Service, headers: dict[str, str], task_id: str, position: str) -> Any:
    response = service.read.get(
        f"/api/v1/tasks/{task_id}", headers={**headers, "X-Min-Position": position}
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def listed(service: Service, headers: dict[str, str], task_id: str, position: str) -> Any:
    response = service.read.get("/api/v1/tasks", headers={**headers, "X-Min-Position": position})
    assert response.status_code == 200, response.text
    return next(task for task in response.json()["data"] if task["id"] == task_id)


def test_reminders_are_added_shown_counted_changed_and_removed(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice, due_date=soon(days=2)).json()["data"]["id"]
    base = f"/api/v1/tasks/{task_id}/reminders"
    absolute = service.write.post(base, json={"remind_at": soon(hours=1)}, headers=alice)
    assert absolute.status_code == 201, absolute.text
    reminder = absolute.json()["data"]
    assert (reminder["status"], reminder["offset_minutes"], reminder["late"]) == (
        "pending",
        None,
        False,
    )
    before_due = service.write.post(base, json={"offset_minutes": 30}, headers=alice)
    assert before_due.status_code == 201, before_due.text

    position = before_due.headers["X-Event-Position"]
    shown = detail(service, alice, task_id, position)["reminders"]
    assert [r["id"] for r in shown] == [reminder["id"], before_due.json()["data"]["id"]]
    assert shown[1]["offset_minutes"] == 30
    assert listed(service, alice, task_id, position)["reminder_count"] == 2

    changed = service.write.patch(
        f"{base}/{reminder['id']}", json={"offset_minutes": 60}, headers=alice
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["reminders"][0]["offset_minutes"] == 60
    removed = service.write.delete(f"{base}/{reminder['id']}", headers=alice)
    assert removed.status_code == 200, removed.text
    task = detail(service, alice, task_id, removed.headers["X-Event-Position"])
    assert ([r["offset_minutes"] for r in task["reminders"]], task["reminder_count"]) == ([30], 1)


def test_clearing_the_due_date_takes_the_reminders_before_it_along(service: Service) -> None:
    alice = service.sign_in()
    created = service.create_task(alice, due_date=soon(days=1)).json()["data"]
    base = f"/api/v1/tasks/{created['id']}/reminders"
    service.write.post(base, json={"offset_minutes": 10}, headers=alice)
    kept = service.write.post(base, json={"remind_at": soon(hours=2)}, headers=alice)
    cleared = service.write.patch(
        f"/api/v1/tasks/{created['id']}",
        json={"version": created["version"] + 2, "due_date": None},
        headers=alice,
    )
    assert cleared.status_code == 200, cleared.text
    assert [r["id"] for r in cleared.json()["data"]["reminders"]] == [kept.json()["data"]["id"]]
    task = detail(service, alice, created["id"], cleared.headers["X-Event-Position"])
    assert task["reminder_count"] == 1


def test_a_free_user_gets_three_reminders_per_task(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    base = f"/api/v1/tasks/{task_id}/reminders"
    for minutes in (10, 20, 30):
        added = service.write.post(base, json={"remind_at": soon(minutes=minutes)}, headers=alice)
        assert added.is_success
    over = service.write.post(base, json={"remind_at": soon(minutes=40)}, headers=alice)
    assert (over.status_code, over.json()["error"]["code"]) == (409, "REMINDER_LIMIT_EXCEEDED")


@pytest.mark.parametrize(
    "body",
    [
        {"remind_at": "past"},
        {"remind_at": "2030-01-01T09:00:00"},  # no offset: which 09:00?
        {"offset_minutes": 10},  # the task has no due date
        {"offset_minutes": -1},
        {"remind_at": "soon", "offset_minutes": 5},
        {},
        {"remind_at": "soon", "colour": "red"},
    ],
)
def test_bad_reminders_are_422_in_the_envelope(service: Service, body: dict[str, Any]) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    times = {"past": soon(minutes=-1), "soon": soon(hours=1)}
    body = {key: times.get(value, value) for key, value in body.items()}
    response = service.write.post(f"/api/v1/tasks/{task_id}/reminders", json=body, headers=alice)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["request_id"] == response.headers["X-Request-ID"]


def test_bad_input_on_change_and_remove_is_422(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    base = f"/api/v1/tasks/{task_id}/reminders"
    reminder_id = service.write.post(base, json={"remind_at": soon(hours=1)}, headers=alice).json()[
        "data"
    ]["id"]
    past = service.write.patch(
        f"{base}/{reminder_id}", json={"remind_at": soon(hours=-1)}, headers=alice
    )
    assert (past.status_code, past.json()["error"]["code"]) == (422, "VALIDATION_ERROR")
    not_an_id = service.write.delete(f"{base}/not-a-uuid", headers=alice)
    assert (not_an_id.status_code, not_an_id.json()["error"]["code"]) == (422, "VALIDATION_ERROR")


def test_someone_elses_reminders_are_404_and_no_token_is_401(service: Service) -> None:
    alice, mallory = service.sign_in(), service.sign_in()
    task_id = service.create_task(alice).json()["data"]["id"]
    base = f"/api/v1/tasks/{task_id}/reminders"
    reminder_id = service.write.post(base, json={"remind_at": soon(hours=1)}, headers=alice).json()[
        "data"
    ]["id"]
    calls = [
        ("POST", base, {"remind_at": soon(hours=1)}),
        ("PATCH", f"{base}/{reminder_id}", {"offset_minutes": 5}),
        ("DELETE", f"{base}/{reminder_id}", None),
    ]
    for method, url, body in calls:
        theirs = service.write.request(method, url, json=body, headers=mallory)
        assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "TASK_NOT_FOUND")
        anonymous = service.write.request(method, url, json=body)
        assert anonymous.status_code == 401
    unknown = service.write.delete(f"{base}/{uuid.uuid4()}", headers=alice)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "NOT_FOUND")
