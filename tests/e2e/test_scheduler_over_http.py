"""The scheduler over HTTP: a reminder a few seconds ahead fires and notifies; a template due
in a few seconds makes exactly one task. Waits are bounded polls of what a client sees."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Service

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 20


def eventually(what: str, found: Callable[[], Any]) -> Any:
    """Poll `found` until it returns something truthy (the scheduler ticks every 0.2 s)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (result := found()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {WAIT_SECONDS} s")
        time.sleep(0.1)
    return result


def in_seconds(seconds: float) -> str:
    return (datetime.now(tz=UTC) + timedelta(seconds=seconds)).isoformat()


def test_a_reminder_fires_into_the_tasks_history_and_notifies(service: Service) -> None:
    alice = service.sign_in()
    task_id = service.create_task(alice, title="Call the plumber").json()["data"]["id"]
    added = service.write.post(
        f"/api/v1/tasks/{task_id}/reminders", json={"remind_at": in_seconds(3)}, headers=alice
    )
    assert added.status_code == 201, added.text
    reminder_id = added.json()["data"]["id"]

    def fired() -> Any:
        history = service.read.get(f"/api/v1/tasks/{task_id}/history", headers=alice)
        return next((e for e in history.json()["data"] if e["type"] == "Task.ReminderFired"), None)

    event = eventually("ReminderFired", fired)
    assert event["data"]["reminder_id"] == reminder_id
    assert event["data"]["late"] is False
    assert 0 <= event["data"]["delay_seconds"] < 60

    detail = service.read.get(
        f"/api/v1/tasks/{task_id}", headers={**alice, "X-Min-Position": str(event["position"])}
    ).json()["data"]
    assert [(r["id"], r["status"]) for r in detail["reminders"]] == [(reminder_id, "fired")]

    def notified() -> Any:
        rows = service.read.get(
            "/api/v1/activity", params={"entity_type": "notification"}, headers=alice
        ).json()["data"]
        return [row["summary"] for row in rows if row["action"] == "posted"]

    assert eventually("the notification", notified) == [
        "notification posted: Reminder: Call the plumber"
    ]


def test_a_template_due_in_seconds_makes_exactly_one_task(service: Service) -> None:
    alice = service.sign_in()
    created = service.write.post(
        "/api/v1/templates",
        json={
            "title": "Stand-up notes",
            "rrule": "FREQ=DAILY",
            "starts_at": in_seconds(3),  # daily, from three seconds from now
            "subtasks": ["yesterday", "today"],
        },
        headers=alice,
    )
    assert created.status_code == 201, created.text
    template_id = created.json()["data"]["id"]
    after_create = {**alice, "X-Min-Position": created.headers["X-Event-Position"]}

    def instance_made() -> Any:
        response = service.read.get(f"/api/v1/templates/{template_id}", headers=after_create)
        return response if response.json()["data"]["instances_created"] else None

    answer = eventually("the template's instance", instance_made)
    template = answer.json()["data"]
    # The instance's task was saved before the template's record of it.
    position = answer.headers["X-Projection-Position"]
    tasks = service.read.get(
        "/api/v1/tasks",
        params={"template_id": template_id},
        headers={**alice, "X-Min-Position": position},
    ).json()["data"]
    assert [(t["title"], t["template_id"], t["subtask_count"]) for t in tasks] == [
        ("Stand-up notes", template_id, 2)
    ]
    assert template["instances_created"] == 1
    assert template["last_occurrence_at"] == created.json()["data"]["next_occurrence_at"]
    # The next one is a day later, on the template's clock.
    assert datetime.fromisoformat(template["next_occurrence_at"]) - datetime.fromisoformat(
        template["last_occurrence_at"]
    ) == timedelta(days=1)
