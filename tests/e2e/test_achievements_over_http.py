"""Achievements over HTTP: stats, unlocks, progress, and the limits their perks raise."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from aggregates.achievements import CATALOG, Achievements
from commands.application import PerpetuaApplication
from tests.e2e.conftest import Service
from tests.e2e.support import read, saved, singleton

pytestmark = pytest.mark.e2e

FREE_LIMITS = {
    "active_tasks": 50,
    "subtasks_per_task": 4,
    "notes_per_task": 10,
    "reminders_per_task": 3,
    "description_length": 1000,
    "daily_credits": 10,
}


def test_a_new_user_has_everything_ahead(service: Service) -> None:
    headers, _, position = service.sign_up()
    answer = read(service, "/api/v1/achievements", headers, position)["data"]
    assert answer["stats"] == {
        "completed_tasks": 0,
        "current_streak": 0,
        "best_streak": 0,
        "focus_completions": 0,
    }
    assert answer["unlocked"] == []
    assert [entry["code"] for entry in answer["progress"]] == [d.code for d in CATALOG]
    assert answer["perks"] == {
        "extra_active_tasks": 0,
        "extra_subtasks": 0,
        "extra_daily_credits": 0,
    }
    assert (answer["tier"], answer["limits"]) == ("free", FREE_LIMITS)


def test_an_unlock_shows_with_its_time_and_raises_the_limits(
    service: Service, store: PerpetuaApplication
) -> None:
    headers, user_id, _ = service.sign_up()
    achievements = singleton(store, Achievements, user_id)
    now = datetime.now(tz=UTC)
    for _ in range(10):  # "tasks_10": one more subtask per task
        achievements.count_task_completion(uuid.uuid4(), at=now, timezone="UTC")
    achievements.count_focus_completion(uuid.uuid4(), at=now)
    position = saved(store, achievements)

    answer = read(service, "/api/v1/achievements", headers, position)["data"]
    assert answer["stats"] == {
        "completed_tasks": 10,
        "current_streak": 1,
        "best_streak": 1,
        "focus_completions": 1,
    }
    unlocked = {entry["code"]: entry for entry in answer["unlocked"]}
    assert set(unlocked) == {"first_task", "tasks_10", "focus_1"}
    assert unlocked["first_task"]["name"] == "First step"
    assert unlocked["tasks_10"]["perk"]["extra_subtasks"] == 1
    assert datetime.fromisoformat(unlocked["first_task"]["unlocked_at"]) == now
    progress = {entry["code"]: entry for entry in answer["progress"]}
    assert "tasks_10" not in progress
    assert (progress["tasks_50"]["metric"], progress["tasks_50"]["current"]) == (
        "completed_tasks",
        10,
    )
    assert progress["tasks_50"]["threshold"] == 50
    assert answer["limits"]["subtasks_per_task"] == 5
    me = read(service, "/api/v1/users/me", headers, position)["data"]
    assert me["limits"] == {**FREE_LIMITS, "subtasks_per_task": 5}


def test_achievements_need_a_token(service: Service) -> None:
    assert service.read.get("/api/v1/achievements").status_code == 401
