"""The task rules, on the in-memory event store."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from aggregates.active_tasks import TaskLimitExceededError
from aggregates.task import Task
from aggregates.task_rules import (
    DescriptionTooLongError,
    DueDateTooFarError,
    InvalidTaskError,
    TaskAlreadyCompletedError,
    TaskNotCompletedError,
    TaskNotFoundError,
    VersionConflictError,
)
from commands.application import PerpetuaApplication
from commands.limits import Limits, TierLimits
from commands.messages import Actor, CompleteTask, CreateTask, ReopenTask, SignIn, UpdateTask
from tests.unit.support import subscribe

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def app() -> PerpetuaApplication:
    limits = Limits(
        tiers={
            "free": TierLimits(active_tasks=3, description_length=10),
            "pro": TierLimits(active_tasks=None, description_length=20),
        }
    )
    return PerpetuaApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, limits=limits, clock=lambda: NOW
    )


@pytest.fixture
def alice(app: PerpetuaApplication) -> Actor:
    user = app.sign_in(SignIn("dev", "alice@example.com", "alice@example.com", "Alice"))
    return Actor(user.user.id)


def create(
    app: PerpetuaApplication, actor: Actor, title: str = "Write report", **fields: object
) -> Task:
    return app.create_task(CreateTask(actor=actor, title=title, **fields)).aggregate  # type: ignore[arg-type]


def test_created_task_has_defaults_and_version_one(app: PerpetuaApplication, alice: Actor) -> None:
    saved = app.create_task(CreateTask(actor=alice, title="Write report"))
    task = app.repository.get(saved.aggregate.id)
    assert (task.title, task.priority, task.completed, task.version) == (
        "Write report",
        "medium",
        False,
        1,
    )
    assert saved.position > 0


def test_positions_grow_with_every_command(app: PerpetuaApplication, alice: Actor) -> None:
    first = app.create_task(CreateTask(actor=alice, title="one"))
    second = app.complete_task(CompleteTask(actor=alice, task_id=first.aggregate.id))
    assert second.position > first.position


def test_free_user_cannot_exceed_active_task_limit(app: PerpetuaApplication, alice: Actor) -> None:
    for number in range(3):
        create(app, alice, f"task {number}")
    with pytest.raises(TaskLimitExceededError) as raised:
        create(app, alice, "one too many")
    assert raised.value.details["limit"] == 3


def test_completing_a_task_frees_a_slot(app: PerpetuaApplication, alice: Actor) -> None:
    tasks = [create(app, alice, f"task {number}") for number in range(3)]
    app.complete_task(CompleteTask(actor=alice, task_id=tasks[0].id))
    create(app, alice, "fits again")
    with pytest.raises(TaskLimitExceededError):
        app.reopen_task(ReopenTask(actor=alice, task_id=tasks[0].id))


def test_pro_user_has_no_active_task_limit(app: PerpetuaApplication, alice: Actor) -> None:
    subscribe(app, alice.user_id, until=NOW + timedelta(days=30))
    for number in range(5):
        create(app, alice, f"task {number}")


def test_the_tier_comes_from_the_subscription_not_from_the_actor(
    app: PerpetuaApplication, alice: Actor
) -> None:
    for number in range(3):
        create(app, alice, f"task {number}")
    with pytest.raises(TaskLimitExceededError):
        create(app, Actor(alice.user_id, tier="pro"), "claims to be pro")


def test_limit_holds_under_concurrent_creates(app: PerpetuaApplication, alice: Actor) -> None:
    outcomes: list[str] = []

    def attempt(number: int) -> None:
        try:
            create(app, alice, f"task {number}")
            outcomes.append("created")
        except TaskLimitExceededError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("created") == 3
    assert outcomes.count("refused") == 5


def test_description_limit_depends_on_tier(app: PerpetuaApplication, alice: Actor) -> None:
    with pytest.raises(DescriptionTooLongError):
        create(app, alice, description="x" * 11)
    subscribe(app, alice.user_id, until=NOW + timedelta(days=30))
    create(app, alice, description="x" * 11)


def test_an_edited_description_is_held_to_the_tier_of_the_moment(
    app: PerpetuaApplication, alice: Actor
) -> None:
    # An edit loads the user's limits only when a guard asks (decision 65): a description does.
    task = create(app, alice)
    app.update_task(UpdateTask(alice, task.id, version=1, changes={"title": "renamed"}))
    with pytest.raises(DescriptionTooLongError):
        app.update_task(UpdateTask(alice, task.id, version=2, changes={"description": "x" * 11}))
    subscribe(app, alice.user_id, until=NOW + timedelta(days=30))
    app.update_task(UpdateTask(alice, task.id, version=2, changes={"description": "x" * 11}))
    assert app.repository.get(task.id).description == "x" * 11


def test_due_date_may_not_be_more_than_thirty_days_ahead(
    app: PerpetuaApplication, alice: Actor
) -> None:
    create(app, alice, due_date=NOW + timedelta(days=30))
    with pytest.raises(DueDateTooFarError):
        create(app, alice, due_date=NOW + timedelta(days=30, seconds=1))


def test_blank_title_is_refused_and_records_nothing(app: PerpetuaApplication, alice: Actor) -> None:
    before = app.recorder.max_notification_id()
    with pytest.raises(InvalidTaskError):
        create(app, alice, title="   ")
    assert app.recorder.max_notification_id() == before


def test_update_with_stale_version_conflicts_and_changes_nothing(
    app: PerpetuaApplication, alice: Actor
) -> None:
    task = create(app, alice)
    app.update_task(UpdateTask(alice, task.id, version=1, changes={"title": "Second"}))
    with pytest.raises(VersionConflictError) as raised:
        app.update_task(UpdateTask(alice, task.id, version=1, changes={"title": "Third"}))
    assert raised.value.details["current_version"] == 2
    assert app.repository.get(task.id).title == "Second"


def test_update_can_clear_optional_fields(app: PerpetuaApplication, alice: Actor) -> None:
    task = create(app, alice, due_date=NOW + timedelta(days=1), estimated_duration=30)
    app.update_task(
        UpdateTask(
            alice, task.id, version=1, changes={"due_date": None, "estimated_duration": None}
        )
    )
    stored = app.repository.get(task.id)
    assert (stored.due_date, stored.estimated_duration, stored.version) == (None, None, 2)


def test_another_users_task_is_not_found(app: PerpetuaApplication, alice: Actor) -> None:
    task = create(app, alice)
    mallory = Actor(uuid4())
    with pytest.raises(TaskNotFoundError):
        app.complete_task(CompleteTask(actor=mallory, task_id=task.id))
    with pytest.raises(TaskNotFoundError):
        app.update_task(UpdateTask(mallory, task.id, version=1, changes={"title": "mine"}))
    assert app.repository.get(task.id).version == 1


def test_an_id_that_is_not_a_task_is_not_found(app: PerpetuaApplication, alice: Actor) -> None:
    with pytest.raises(TaskNotFoundError):
        app.complete_task(CompleteTask(actor=alice, task_id=alice.user_id))


def test_complete_then_reopen(app: PerpetuaApplication, alice: Actor) -> None:
    task = create(app, alice)
    completed = app.complete_task(CompleteTask(actor=alice, task_id=task.id)).aggregate
    assert (completed.completed, completed.completed_at, completed.completed_by) == (
        True,
        NOW,
        "manual",
    )
    with pytest.raises(TaskAlreadyCompletedError):
        app.complete_task(CompleteTask(actor=alice, task_id=task.id))
    reopened = app.reopen_task(ReopenTask(actor=alice, task_id=task.id)).aggregate
    assert (reopened.completed, reopened.completed_at) == (False, None)
    with pytest.raises(TaskNotCompletedError):
        app.reopen_task(ReopenTask(actor=alice, task_id=task.id))


def test_signing_in_twice_is_the_same_user(app: PerpetuaApplication) -> None:
    first = app.sign_in(SignIn("dev", "bob@example.com", "bob@example.com", "Bob"))
    second = app.sign_in(SignIn("dev", "bob@example.com", "bob@example.com", "Robert"))
    assert first.user.id == second.user.id
    assert second.user.name == "Bob"
    assert second.position > first.position
