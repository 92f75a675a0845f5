"""Focus sessions: one at a time, time credited to the task, 25 minutes make a completion."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aggregates.focus import FocusAlreadyActiveError, FocusNotActiveError, FocusNotFoundError
from aggregates.task import Task
from aggregates.task_rules import TaskArchivedError
from commands.application import PerpetuaApplication
from commands.messages import Actor, ArchiveTask, CreateTask, EndFocus, SignIn, StartFocus
from tests.fakes.clock import Clock


@pytest.fixture
def task(app: PerpetuaApplication, alice: Actor) -> Task:
    return app.create_task(CreateTask(actor=alice, title="Write")).aggregate


def test_a_completed_session_credits_its_time_and_counts_from_25_minutes(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    session = app.start_focus(StartFocus(alice, task.id, planned_minutes=25)).aggregate
    clock.now += timedelta(minutes=26)
    ended = app.end_focus(EndFocus(alice, session.id, completed=True)).aggregate
    assert (ended.elapsed_seconds, ended.counts_as_completion) == (26 * 60, True)
    assert app.repository.get(task.id).focus_time_seconds == 26 * 60


def test_a_short_or_abandoned_session_is_no_completion(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    short = app.start_focus(StartFocus(alice, task.id, planned_minutes=25)).aggregate
    clock.now += timedelta(minutes=24)
    assert not app.end_focus(
        EndFocus(alice, short.id, completed=True)
    ).aggregate.counts_as_completion
    long = app.start_focus(StartFocus(alice, task.id, planned_minutes=50)).aggregate
    clock.now += timedelta(minutes=40)
    assert not app.end_focus(
        EndFocus(alice, long.id, completed=False)
    ).aggregate.counts_as_completion
    assert app.repository.get(task.id).focus_time_seconds == 64 * 60


def test_only_one_session_at_a_time(app: PerpetuaApplication, alice: Actor, task: Task) -> None:
    first = app.start_focus(StartFocus(alice, task.id, planned_minutes=25)).aggregate
    with pytest.raises(FocusAlreadyActiveError):
        app.start_focus(StartFocus(alice, task.id, planned_minutes=25))
    app.end_focus(EndFocus(alice, first.id, completed=False))
    app.start_focus(StartFocus(alice, task.id, planned_minutes=25))


def test_a_session_ends_once(app: PerpetuaApplication, alice: Actor, task: Task) -> None:
    session = app.start_focus(StartFocus(alice, task.id, planned_minutes=25)).aggregate
    app.end_focus(EndFocus(alice, session.id, completed=False))
    with pytest.raises(FocusNotActiveError):
        app.end_focus(EndFocus(alice, session.id, completed=False))


def test_a_forgotten_session_counts_at_most_twelve_hours(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    session = app.start_focus(StartFocus(alice, task.id, planned_minutes=25)).aggregate
    clock.now += timedelta(days=3)
    ended = app.end_focus(EndFocus(alice, session.id, completed=True)).aggregate
    assert ended.elapsed_seconds == 12 * 3600


def test_another_users_session_and_archived_tasks_are_refused(
    app: PerpetuaApplication, alice: Actor, task: Task
) -> None:
    session = app.start_focus(StartFocus(alice, task.id, planned_minutes=25)).aggregate
    bob = Actor(app.sign_in(SignIn("dev", "b@example.com", "b@example.com", "B")).user.id)
    with pytest.raises(FocusNotFoundError):
        app.end_focus(EndFocus(bob, session.id, completed=True))
    app.end_focus(EndFocus(alice, session.id, completed=False))
    app.archive_task(ArchiveTask(alice, task.id))
    with pytest.raises(TaskArchivedError):
        app.start_focus(StartFocus(alice, task.id, planned_minutes=25))
