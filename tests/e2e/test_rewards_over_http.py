"""Credits and achievements as a user meets them: only HTTP, through both apps."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Service
from tests.e2e.support import read

pytestmark = pytest.mark.e2e


def command(service: Service, path: str, headers: dict[str, str], **body: Any) -> Any:
    response = service.write.post(path, json=body or None, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response


def test_a_new_user_has_fifteen_credits(service: Service) -> None:
    headers, _, position = service.sign_up()
    balance = read(service, "/api/v1/credits/balance", headers, position)["data"]
    assert (balance["daily"], balance["kickstart"], balance["total"]) == (10, 5, 15)
    history = read(service, "/api/v1/credits/history", headers, position)["data"]
    assert sorted(entry["credit_kind"] for entry in history) == ["daily", "kickstart"]


def test_the_tenth_completion_unlocks_in_its_own_commit_and_its_perk_is_enforced(
    service: Service,
) -> None:
    headers, _, _ = service.sign_up()
    big = service.create_task(headers, title="Big one").json()["data"]["id"]
    for number in range(4):
        command(service, f"/api/v1/tasks/{big}/subtasks", headers, title=f"step {number}")
    refused = service.write.post(
        f"/api/v1/tasks/{big}/subtasks", json={"title": "fifth"}, headers=headers
    )
    assert refused.json()["error"]["code"] == "SUBTASK_LIMIT_EXCEEDED"

    for number in range(10):
        task_id = service.create_task(headers, title=f"small {number}").json()["data"]["id"]
        done = command(service, f"/api/v1/tasks/{task_id}/complete", headers)
    position = done.headers["X-Event-Position"]

    # The unlock and its notification are in the tenth completion's commit, right after it.
    activity = read(service, "/api/v1/activity", headers, position, limit=5)["data"]
    last_commit = [(row["entity_type"], row["action"]) for row in reversed(activity)][-5:]
    assert last_commit == [
        ("task", "completed"),
        ("active_tasks", "deactivated"),
        ("achievements", "task_completion_counted"),
        ("achievements", "unlocked"),
        ("notification", "posted"),
    ]
    positions = [row["position"] for row in reversed(activity)][-5:]
    assert positions == list(range(int(position) - 4, int(position) + 1))

    achievements = read(service, "/api/v1/achievements", headers, position)["data"]
    assert "tasks_10" in {entry["code"] for entry in achievements["unlocked"]}
    notifications = read(service, "/api/v1/notifications", headers, position)["data"]
    assert "Achievement unlocked: Getting things done" in {n["title"] for n in notifications}
    # The perk (one more subtask per task) is what the write side now enforces.
    command(service, f"/api/v1/tasks/{big}/subtasks", headers, title="fifth")
