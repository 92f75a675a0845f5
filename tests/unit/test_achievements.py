"""Achievements move with completions, in the same commit, and their perks raise the limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError

from aggregates.achievements import Achievements
from aggregates.inbox import Inbox
from aggregates.task_rules import SubtaskLimitExceededError
from commands.application import PerpetuaApplication
from commands.messages import (
    Actor,
    AddSubtask,
    CompleteSubtask,
    CompleteTask,
    CreateTask,
    EndFocus,
    ReopenTask,
    StartFocus,
    UpdateProfile,
)
from tests.fakes.clock import Clock


def achievements_of(app: PerpetuaApplication, user_id: UUID) -> Achievements:
    achievements: Achievements = app.repository.get(Achievements.create_id(user_id))
    return achievements


def complete_new_task(app: PerpetuaApplication, actor: Actor, title: str = "Do it") -> UUID:
    task_id = app.create_task(CreateTask(actor, title)).aggregate.id
    app.complete_task(CompleteTask(actor, task_id))
    return task_id


def test_completing_the_first_task_unlocks_in_the_same_commit_with_a_notification(
    app: PerpetuaApplication, alice: Actor
) -> None:
    task_id = app.create_task(CreateTask(alice, "Do it")).aggregate.id
    before = app.recorder.max_notification_id() or 0
    completed = app.complete_task(CompleteTask(alice, task_id))
    saved = app.recorder.select_notifications(start=before + 1, limit=1000)
    names = [note.topic.rsplit(".", 1)[-1] for note in saved]
    # One save: the completion, the active count, the stats (started now), the unlock and
    # its notification in the inbox (opened now): adjacent positions, one commit.
    assert names == [
        "Completed",
        "Deactivated",
        "Started",
        "TaskCompletionCounted",
        "Unlocked",
        "Opened",
        "NotificationPosted",
    ]
    assert [note.id for note in saved] == list(range(before + 1, before + 1 + len(saved)))
    assert completed.position == saved[-1].id
    assert "first_task" in achievements_of(app, alice.user_id).unlocked
    inbox: Inbox = app.repository.get(Inbox.create_id(alice.user_id))
    assert inbox.unread_count == 1


def test_a_reopened_task_stops_counting_and_counts_again_when_completed(
    app: PerpetuaApplication, alice: Actor
) -> None:
    task_id = complete_new_task(app, alice)
    app.reopen_task(ReopenTask(alice, task_id))
    assert achievements_of(app, alice.user_id).completed_tasks == 0
    assert "first_task" in achievements_of(app, alice.user_id).unlocked  # an unlock stays
    app.complete_task(CompleteTask(alice, task_id))
    assert achievements_of(app, alice.user_id).completed_tasks == 1


def test_an_auto_completed_task_counts(app: PerpetuaApplication, alice: Actor) -> None:
    task_id = app.create_task(CreateTask(alice, "Do it")).aggregate.id
    subtask_id = app.add_subtask(AddSubtask(alice, task_id, "only step"))[1]
    app.complete_subtask(CompleteSubtask(alice, task_id, subtask_id))
    assert achievements_of(app, alice.user_id).completed_tasks == 1


def test_streaks_count_days_in_the_users_timezone_across_dst(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    app.update_profile(UpdateProfile(alice, {"timezone": "Europe/Amsterdam"}))
    # Summer time starts in Amsterdam at 01:00 UTC on 29 March 2026. In UTC these fall on
    # two days (28, 28, 29 March); in Amsterdam on three (28, 29, 30 March).
    for moment in ("2026-03-28T22:30:00", "2026-03-28T23:30:00", "2026-03-29T22:30:00"):
        clock.now = datetime.fromisoformat(moment).replace(tzinfo=UTC)
        complete_new_task(app, alice)
    achievements = achievements_of(app, alice.user_id)
    assert (achievements.streak, achievements.best_streak) == (3, 3)
    assert "streak_3" in achievements.unlocked


def test_a_missed_day_starts_the_streak_again_but_keeps_the_best(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    for _ in range(2):
        complete_new_task(app, alice)
        clock.now += timedelta(days=1)
    clock.now += timedelta(days=1)
    complete_new_task(app, alice)
    achievements = achievements_of(app, alice.user_id)
    assert (achievements.streak, achievements.best_streak) == (1, 2)


def test_a_completed_focus_session_of_25_minutes_counts(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    task_id = app.create_task(CreateTask(alice, "Write")).aggregate.id
    short = app.start_focus(StartFocus(alice, task_id, 25)).aggregate.id
    clock.now += timedelta(minutes=24)
    app.end_focus(EndFocus(alice, short, completed=True))
    with pytest.raises(AggregateNotFoundError):  # nothing counted: 24 minutes is too short
        achievements_of(app, alice.user_id)
    long = app.start_focus(StartFocus(alice, task_id, 25)).aggregate.id
    clock.now += timedelta(minutes=25)
    app.end_focus(EndFocus(alice, long, completed=True))
    achievements = achievements_of(app, alice.user_id)
    assert achievements.focus_completions == 1
    assert "focus_1" in achievements.unlocked


def test_a_perk_raises_the_limit_the_write_side_enforces(
    app: PerpetuaApplication, alice: Actor
) -> None:
    task_id = app.create_task(CreateTask(alice, "Big one")).aggregate.id
    for number in range(4):
        app.add_subtask(AddSubtask(alice, task_id, f"step {number}"))
    with pytest.raises(SubtaskLimitExceededError):
        app.add_subtask(AddSubtask(alice, task_id, "fifth"))
    for number in range(10):  # "tasks_10": one more subtask per task
        complete_new_task(app, alice, f"small {number}")
    app.add_subtask(AddSubtask(alice, task_id, "fifth"))
