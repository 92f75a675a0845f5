"""Reminders on a task: set, moved with the due date, fired once by the scheduler's command."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from aggregates.inbox import Inbox
from aggregates.task import Task
from aggregates.task_rules import (
    InvalidReminderError,
    ReminderAlreadyFiredError,
    ReminderLimitExceededError,
    TaskArchivedError,
)
from commands.application import PerpetuaApplication
from commands.messages import (
    Actor,
    AddReminder,
    ArchiveTask,
    ChangeReminder,
    CompleteTask,
    CreateTask,
    DeleteTask,
    FireReminder,
    RemoveReminder,
    RestoreTask,
    SignIn,
    UpdateTask,
)
from tests.fakes.clock import Clock
from tests.unit.support import subscribe

HOUR = timedelta(hours=1)


@pytest.fixture
def app(clock: Clock) -> PerpetuaApplication:
    return PerpetuaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)


@pytest.fixture
def alice(app: PerpetuaApplication) -> Actor:
    return Actor(app.sign_in(SignIn("dev", "a@example.com", "a@example.com", "A")).user.id)


@pytest.fixture
def task(app: PerpetuaApplication, alice: Actor, clock: Clock) -> Task:
    command = CreateTask(actor=alice, title="Call the plumber", due_date=clock.now + 24 * HOUR)
    return app.create_task(command).aggregate


def remind(app: PerpetuaApplication, actor: Actor, task: Task, **when: Any) -> UUID:
    return app.add_reminder(AddReminder(actor, task.id, **when))[1]


def reload(app: PerpetuaApplication, task: Task) -> Task:
    stored: Task = app.repository.get(task.id)
    return stored


def reminder_notifications(app: PerpetuaApplication, actor: Actor) -> list[str]:
    events = app.events.get(Inbox.create_id(actor.user_id))
    return [
        e.title for e in events if isinstance(e, Inbox.NotificationPosted) and e.kind == "reminder"
    ]


def test_a_reminder_fires_once_when_its_time_has_come(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    reminder_id = remind(app, alice, task, remind_at=clock.now + HOUR)
    fire = FireReminder(task.id, reminder_id)
    assert app.fire_reminder(fire) is None  # not yet

    clock.now += HOUR + timedelta(seconds=5)
    assert app.fire_reminder(fire) == "fired"
    assert app.fire_reminder(fire) is None  # a second scheduler, or a second tick

    reminder = reload(app, task).reminders[reminder_id]
    assert (reminder.status, reminder.fired_at, reminder.late) == ("fired", clock.now, False)
    fired = [e for e in app.events.get(task.id) if isinstance(e, Task.ReminderFired)]
    assert [(e.reminder_id, e.delay_seconds) for e in fired] == [(reminder_id, 5.0)]
    assert reminder_notifications(app, alice) == ["Reminder: Call the plumber"]


def test_a_reminder_fired_more_than_a_minute_after_its_time_is_marked_late(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    reminder_id = remind(app, alice, task, remind_at=clock.now + HOUR)
    clock.now += 3 * HOUR  # the scheduler was down
    assert app.fire_reminder(FireReminder(task.id, reminder_id)) == "fired"
    fired = next(e for e in app.events.get(task.id) if isinstance(e, Task.ReminderFired))
    assert (fired.late, fired.delay_seconds) == (True, 2 * 3600.0)


def test_offset_reminders_move_with_the_due_date(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    assert task.due_date is not None
    before_due = remind(app, alice, task, offset_minutes=30)
    absolute = remind(app, alice, task, remind_at=clock.now + HOUR)
    assert reload(app, task).reminders[before_due].fires_at == task.due_date - timedelta(minutes=30)

    later = task.due_date + 48 * HOUR
    version = reload(app, task).version
    app.update_task(UpdateTask(alice, task.id, version, {"due_date": later}))

    moved = reload(app, task)
    assert moved.reminders[before_due].fires_at == later - timedelta(minutes=30)
    assert moved.reminders[absolute].fires_at == clock.now + HOUR  # absolute ones stay put
    rescheduled = [e for e in app.events.get(task.id) if isinstance(e, Task.ReminderRescheduled)]
    assert [e.reminder_id for e in rescheduled] == [before_due]
    # It fires at its new time, not at its old one.
    clock.now = task.due_date
    assert app.fire_reminder(FireReminder(task.id, before_due)) is None
    clock.now = later - timedelta(minutes=30)
    assert app.fire_reminder(FireReminder(task.id, before_due)) == "fired"


def test_a_due_date_moved_closer_fires_an_offset_reminder_at_once_and_late(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    reminder_id = remind(app, alice, task, offset_minutes=120)
    version = reload(app, task).version
    soon = clock.now + timedelta(minutes=30)  # the reminder's new time has passed
    app.update_task(UpdateTask(alice, task.id, version, {"due_date": soon}))
    assert app.fire_reminder(FireReminder(task.id, reminder_id)) == "fired"
    assert reload(app, task).reminders[reminder_id].late


def test_clearing_the_due_date_removes_the_offset_reminders_only(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    remind(app, alice, task, offset_minutes=30)
    absolute = remind(app, alice, task, remind_at=clock.now + HOUR)
    version = reload(app, task).version
    saved = app.update_task(UpdateTask(alice, task.id, version, {"due_date": None}))
    assert list(saved.aggregate.reminders) == [absolute]
    new_events = list(app.events.get(task.id, gt=version))
    assert [type(e).__name__ for e in new_events] == ["Updated", "ReminderRemoved"]


@pytest.mark.parametrize(
    ("when", "field"),
    [
        (lambda now: {"remind_at": now - HOUR}, "remind_at"),
        (lambda now: {"remind_at": now}, "remind_at"),
        (lambda now: {"offset_minutes": 25 * 60}, "offset_minutes"),  # the due date is 24 h away
        (lambda now: {"offset_minutes": -5}, "offset_minutes"),
        (lambda now: {}, "remind_at"),
        (lambda now: {"remind_at": now + HOUR, "offset_minutes": 5}, "remind_at"),
    ],
)
def test_a_reminder_must_be_one_time_still_ahead(
    app: PerpetuaApplication,
    alice: Actor,
    task: Task,
    clock: Clock,
    when: Callable[[datetime], dict[str, object]],
    field: str,
) -> None:
    with pytest.raises(InvalidReminderError) as refused:
        remind(app, alice, task, **when(clock.now))
    assert refused.value.details == {"field": field}
    assert reload(app, task).reminders == {}


def test_a_reminder_before_the_due_date_needs_a_due_date(
    app: PerpetuaApplication, alice: Actor
) -> None:
    undated = app.create_task(CreateTask(actor=alice, title="Someday")).aggregate
    with pytest.raises(InvalidReminderError):
        remind(app, alice, undated, offset_minutes=10)


def test_free_users_get_three_reminders_per_task_and_pro_users_ten(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    for minutes in range(1, 4):
        remind(app, alice, task, remind_at=clock.now + timedelta(minutes=minutes))
    with pytest.raises(ReminderLimitExceededError) as refused:
        remind(app, alice, task, remind_at=clock.now + HOUR)
    assert refused.value.details == {"limit": 3}

    subscribe(app, alice.user_id, until=clock.now + timedelta(days=30))
    for minutes in range(4, 11):
        remind(app, alice, task, remind_at=clock.now + timedelta(minutes=minutes))
    with pytest.raises(ReminderLimitExceededError):
        remind(app, alice, task, remind_at=clock.now + HOUR)


def test_a_pending_reminder_can_be_changed_and_removed_but_a_fired_one_only_removed(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    reminder_id = remind(app, alice, task, remind_at=clock.now + HOUR)
    app.change_reminder(ChangeReminder(alice, task.id, reminder_id, offset_minutes=15))
    assert task.due_date is not None
    changed = reload(app, task).reminders[reminder_id]
    assert (changed.remind_at, changed.offset_minutes) == (None, 15)
    assert changed.fires_at == task.due_date - timedelta(minutes=15)

    clock.now = changed.fires_at
    app.fire_reminder(FireReminder(task.id, reminder_id))
    with pytest.raises(ReminderAlreadyFiredError):
        app.change_reminder(ChangeReminder(alice, task.id, reminder_id, remind_at=clock.now + HOUR))
    app.remove_reminder(RemoveReminder(alice, task.id, reminder_id))
    assert reload(app, task).reminders == {}


def test_reminders_of_closed_tasks_are_skipped_without_a_notification(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    tasks = [app.create_task(CreateTask(actor=alice, title=f"t{n}")).aggregate for n in range(3)]
    reminders = [remind(app, alice, task, remind_at=clock.now + HOUR) for task in tasks]
    app.complete_task(CompleteTask(alice, tasks[0].id))
    app.archive_task(ArchiveTask(alice, tasks[1].id))
    app.delete_task(DeleteTask(alice, tasks[2].id))
    clock.now += 2 * HOUR
    outcomes = [
        app.fire_reminder(FireReminder(t.id, r)) for t, r in zip(tasks, reminders, strict=True)
    ]
    assert outcomes == ["skipped"] * 3
    reasons = [
        next(e.reason for e in app.events.get(t.id) if isinstance(e, Task.ReminderSkipped))
        for t in tasks
    ]
    assert reasons == ["completed", "archived", "deleted"]
    assert reminder_notifications(app, alice) == []


def test_reminders_travel_with_delete_and_restore(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    reminder_id = remind(app, alice, task, remind_at=clock.now + HOUR)
    app.delete_task(DeleteTask(alice, task.id))
    app.restore_task(RestoreTask(alice, task.id))
    assert [r["id"] for r in reload(app, task).state()["reminders"]] == [reminder_id]
    clock.now += HOUR
    assert app.fire_reminder(FireReminder(task.id, reminder_id)) == "fired"


def test_archived_tasks_take_no_new_reminders(
    app: PerpetuaApplication, alice: Actor, task: Task, clock: Clock
) -> None:
    app.archive_task(ArchiveTask(alice, task.id))
    with pytest.raises(TaskArchivedError):
        remind(app, alice, task, remind_at=clock.now + HOUR)
