"""Hide, archive, delete and restore, and what they do to the active-task limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aggregates.active_tasks import TaskLimitExceededError
from aggregates.task import Task
from aggregates.task_rules import (
    TaskArchivedError,
    TaskNotFoundError,
    TombstoneExpiredError,
    TombstoneNotFoundError,
)
from commands.application import PerpetuaApplication
from commands.limits import Limits, TierLimits
from commands.messages import (
    Actor,
    ArchiveTask,
    CompleteTask,
    CreateTask,
    DeleteTask,
    HideTask,
    RestoreTask,
    SignIn,
    UnarchiveTask,
    UnhideTask,
    UpdateTask,
)
from tests.fakes.clock import Clock


@pytest.fixture
def app(clock: Clock) -> PerpetuaApplication:
    limits = Limits(
        tiers={
            "free": TierLimits(active_tasks=2, description_length=100),
            "pro": TierLimits(active_tasks=None, description_length=100),
        },
        tombstone_window=timedelta(days=7),
    )
    return PerpetuaApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, limits=limits, clock=clock
    )


@pytest.fixture
def alice(app: PerpetuaApplication) -> Actor:
    return Actor(app.sign_in(SignIn("dev", "a@example.com", "a@example.com", "A")).user.id)


def create(app: PerpetuaApplication, actor: Actor, title: str = "task") -> Task:
    return app.create_task(CreateTask(actor=actor, title=title)).aggregate


def test_hide_and_unhide_toggle_and_repeat_harmlessly(
    app: PerpetuaApplication, alice: Actor
) -> None:
    task = create(app, alice)
    assert app.hide_task(HideTask(alice, task.id)).aggregate.hidden
    assert app.hide_task(HideTask(alice, task.id)).aggregate.version == 2  # no second event
    assert not app.unhide_task(UnhideTask(alice, task.id)).aggregate.hidden


def test_archived_task_is_read_only_and_frees_a_slot(
    app: PerpetuaApplication, alice: Actor
) -> None:
    first, _ = create(app, alice, "one"), create(app, alice, "two")
    app.archive_task(ArchiveTask(alice, first.id))
    with pytest.raises(TaskArchivedError):
        app.update_task(UpdateTask(alice, first.id, version=2, changes={"title": "x"}))
    with pytest.raises(TaskArchivedError):
        app.complete_task(CompleteTask(alice, first.id))
    with pytest.raises(TaskArchivedError):
        app.hide_task(HideTask(alice, first.id))
    create(app, alice, "three")  # the archived one no longer counts
    with pytest.raises(TaskLimitExceededError):
        app.unarchive_task(UnarchiveTask(alice, first.id))


def test_deleted_task_is_gone_until_restored_with_its_history(
    app: PerpetuaApplication, alice: Actor
) -> None:
    task = create(app, alice)
    app.update_task(UpdateTask(alice, task.id, version=1, changes={"title": "renamed"}))
    deleted = app.delete_task(DeleteTask(alice, task.id)).aggregate
    assert deleted.recoverable_until == deleted.deleted_at + timedelta(days=7)
    with pytest.raises(TaskNotFoundError):
        app.complete_task(CompleteTask(alice, task.id))
    with pytest.raises(TaskNotFoundError):
        app.delete_task(DeleteTask(alice, task.id))

    restored = app.restore_task(RestoreTask(alice, task.id)).aggregate
    assert (restored.id, restored.title, restored.deleted) == (task.id, "renamed", False)
    assert [type(e).__name__ for e in app.events.get(task.id)] == [
        "Created", "Updated", "Deleted", "Restored",
    ]  # fmt: skip


def test_restore_after_the_window_is_refused(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    task = create(app, alice)
    app.delete_task(DeleteTask(alice, task.id))
    clock.now += timedelta(days=7, seconds=1)
    with pytest.raises(TombstoneExpiredError):
        app.restore_task(RestoreTask(alice, task.id))


def test_restoring_a_task_that_is_not_deleted_is_not_found(
    app: PerpetuaApplication, alice: Actor
) -> None:
    task = create(app, alice)
    with pytest.raises(TombstoneNotFoundError):
        app.restore_task(RestoreTask(alice, task.id))


def test_restore_may_not_break_the_active_task_limit(
    app: PerpetuaApplication, alice: Actor
) -> None:
    task = create(app, alice, "deleted")
    app.delete_task(DeleteTask(alice, task.id))
    create(app, alice, "two")
    create(app, alice, "three")
    with pytest.raises(TaskLimitExceededError):
        app.restore_task(RestoreTask(alice, task.id))
    assert app.repository.get(task.id).deleted


def test_deleting_a_completed_task_leaves_the_count_alone(
    app: PerpetuaApplication, alice: Actor
) -> None:
    done = create(app, alice, "done")
    app.complete_task(CompleteTask(alice, done.id))
    create(app, alice, "one")
    app.delete_task(DeleteTask(alice, done.id))
    create(app, alice, "two")  # limit 2: one + two, the completed one never counted
    with pytest.raises(TaskLimitExceededError):
        create(app, alice, "three")


def test_another_users_task_cannot_be_deleted_or_restored(
    app: PerpetuaApplication, alice: Actor
) -> None:
    task = create(app, alice)
    bob = Actor(app.sign_in(SignIn("dev", "b@example.com", "b@example.com", "B")).user.id)
    with pytest.raises(TaskNotFoundError):
        app.delete_task(DeleteTask(bob, task.id))
    app.delete_task(DeleteTask(alice, task.id))
    with pytest.raises(TaskNotFoundError):
        app.restore_task(RestoreTask(bob, task.id))
