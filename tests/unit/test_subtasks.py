"""Subtasks: limits, order, and how they complete (or reopen) their task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from aggregates.active_tasks import TaskLimitExceededError
from aggregates.task import Task
from aggregates.task_rules import (
    InvalidSubtaskError,
    SubtaskLimitExceededError,
    SubtaskNotFoundError,
    SubtasksIncompleteError,
    TaskArchivedError,
)
from commands.application import PerpetuaApplication
from commands.limits import Limits, TierLimits
from commands.messages import (
    Actor,
    AddSubtask,
    ArchiveTask,
    CompleteSubtask,
    CompleteTask,
    CreateTask,
    RemoveSubtask,
    RenameSubtask,
    ReopenSubtask,
    ReorderSubtasks,
    SignIn,
)
from tests.unit.support import subscribe

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def app() -> PerpetuaApplication:
    limits = Limits(
        tiers={
            "free": TierLimits(active_tasks=1, description_length=100, subtasks_per_task=3),
            "pro": TierLimits(active_tasks=None, description_length=100, subtasks_per_task=5),
        }
    )
    return PerpetuaApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, limits=limits, clock=lambda: NOW
    )


@pytest.fixture
def alice(app: PerpetuaApplication) -> Actor:
    return Actor(app.sign_in(SignIn("dev", "a@example.com", "a@example.com", "A")).user.id)


@pytest.fixture
def task(app: PerpetuaApplication, alice: Actor) -> Task:
    return app.create_task(CreateTask(actor=alice, title="Plan trip")).aggregate


def add(app: PerpetuaApplication, actor: Actor, task: Task, title: str) -> UUID:
    return app.add_subtask(AddSubtask(actor, task.id, title))[1]


def reload(app: PerpetuaApplication, task: Task) -> Task:
    stored: Task = app.repository.get(task.id)
    return stored


def test_subtasks_keep_their_order_and_can_be_reordered(
    app: PerpetuaApplication, alice: Actor, task: Task
) -> None:
    ids = [add(app, alice, task, title) for title in ("book", "pack", "go")]
    assert [s["title"] for s in reload(app, task).state()["subtasks"]] == ["book", "pack", "go"]
    app.reorder_subtasks(ReorderSubtasks(alice, task.id, [ids[2], ids[0], ids[1]]))
    subtasks = reload(app, task).state()["subtasks"]
    assert [(s["title"], s["position"]) for s in subtasks] == [("go", 0), ("book", 1), ("pack", 2)]


@pytest.mark.parametrize("bad", ["missing", "duplicate", "stranger"])
def test_a_reorder_must_name_every_subtask_once(
    app: PerpetuaApplication, alice: Actor, task: Task, bad: str
) -> None:
    ids = [add(app, alice, task, title) for title in ("a", "b")]
    order = {"missing": [ids[0]], "duplicate": [ids[0], ids[0]], "stranger": [ids[0], uuid4()]}
    with pytest.raises(InvalidSubtaskError):
        app.reorder_subtasks(ReorderSubtasks(alice, task.id, order[bad]))


def test_the_subtask_limit_depends_on_the_tier(
    app: PerpetuaApplication, alice: Actor, task: Task
) -> None:
    for title in ("a", "b", "c"):
        add(app, alice, task, title)
    with pytest.raises(SubtaskLimitExceededError):
        add(app, alice, task, "d")
    # The tier comes from the user's subscription, not from what the actor claims.
    with pytest.raises(SubtaskLimitExceededError):
        add(app, Actor(alice.user_id, tier="pro"), task, "d")
    subscribe(app, alice.user_id, until=NOW + timedelta(days=30))
    add(app, alice, task, "d")


def test_completing_the_last_open_subtask_completes_the_task(
    app: PerpetuaApplication, alice: Actor, task: Task
) -> None:
    first, second = add(app, alice, task, "a"), add(app, alice, task, "b")
    app.complete_subtask(CompleteSubtask(alice, task.id, first))
    assert not reload(app, task).completed
    app.complete_subtask(CompleteSubtask(alice, task.id, second))
    done = reload(app, task)
    assert (done.completed, done.completed_by, done.completed_at) == (True, "auto", NOW)
    # The task no longer counts as active: another fits under the limit of 1.
    app.create_task(CreateTask(actor=alice, title="next"))


def test_a_task_with_open_subtasks_completes_only_when_forced(
    app: PerpetuaApplication, alice: Actor, task: Task
) -> None:
    add(app, alice, task, "a")
    add(app, alice, task, "b")
    with pytest.raises(SubtasksIncompleteError) as raised:
        app.complete_task(CompleteTask(alice, task.id))
    assert raised.value.details["open_subtasks"] == 2
    app.complete_task(CompleteTask(alice, task.id, force=True))
    done = reload(app, task)
    assert done.completed_by == "force"
    assert all(s["completed"] for s in done.state()["subtasks"])


def test_reopening_a_subtask_of_a_completed_task_reopens_the_task(
    app: PerpetuaApplication, alice: Actor, task: Task
) -> None:
    only = add(app, alice, task, "a")
    app.complete_subtask(CompleteSubtask(alice, task.id, only))
    app.reopen_subtask(ReopenSubtask(alice, task.id, only))
    reopened = reload(app, task)
    assert (reopened.completed, reopened.open_subtasks) == (False, [only])


def test_adding_a_subtask_to_a_completed_task_reopens_it_within_the_limit(
    app: PerpetuaApplication, alice: Actor, task: Task
) -> None:
    app.complete_task(CompleteTask(alice, task.id))
    app.create_task(CreateTask(actor=alice, title="takes the only slot"))
    with pytest.raises(TaskLimitExceededError):
        add(app, alice, task, "more work")
    assert reload(app, task).completed


def test_rename_and_remove(app: PerpetuaApplication, alice: Actor, task: Task) -> None:
    sid = add(app, alice, task, "old")
    app.rename_subtask(RenameSubtask(alice, task.id, sid, "new"))
    assert reload(app, task).state()["subtasks"][0]["title"] == "new"
    app.remove_subtask(RemoveSubtask(alice, task.id, sid))
    assert reload(app, task).state()["subtasks"] == []
    with pytest.raises(SubtaskNotFoundError):
        app.remove_subtask(RemoveSubtask(alice, task.id, sid))


def test_blank_subtask_title_is_refused(app: PerpetuaApplication, alice: Actor, task: Task) -> None:
    with pytest.raises(InvalidSubtaskError):
        add(app, alice, task, "  ")
    assert reload(app, task).version == 1


def test_an_archived_tasks_subtasks_are_read_only(
    app: PerpetuaApplication, alice: Actor, task: Task
) -> None:
    sid = add(app, alice, task, "a")
    app.archive_task(ArchiveTask(alice, task.id))
    with pytest.raises(TaskArchivedError):
        app.complete_subtask(CompleteSubtask(alice, task.id, sid))
    with pytest.raises(TaskArchivedError):
        add(app, alice, task, "b")
