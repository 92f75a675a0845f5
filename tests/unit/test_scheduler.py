"""The scheduler's tick, with a read model that lags: the aggregates decide, so nothing
happens twice however often it ticks."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest
from prometheus_client import REGISTRY

from aggregates.task import Task
from aggregates.template import TaskTemplate
from commands.application import PerpetuaApplication
from commands.messages import (
    Actor,
    AddReminder,
    CreateTask,
    CreateTemplate,
    FireReminder,
    SignIn,
)
from projections.reminder_rows import DueReminder
from projections.templates import DueTemplate
from projectors.scheduler import Scheduler
from tests.fakes.clock import Clock

MINUTE = timedelta(minutes=1)


class FrozenReadModel:
    """A projection that never catches up: it lists what it once saw as due, for ever."""

    def __init__(self) -> None:
        self.reminders: list[DueReminder] = []
        self.templates: list[DueTemplate] = []

    def due_reminders(self, now: datetime, limit: int) -> list[DueReminder]:
        return [r for r in self.reminders if r.fires_at <= now][:limit]

    def due_templates(self, now: datetime, limit: int) -> list[DueTemplate]:
        return [t for t in self.templates if t.next_occurrence_at <= now][:limit]


@pytest.fixture
def app(clock: Clock) -> PerpetuaApplication:
    return PerpetuaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)


@pytest.fixture
def alice(app: PerpetuaApplication) -> Actor:
    return Actor(app.sign_in(SignIn("dev", "a@example.com", "a@example.com", "A")).user.id)


@pytest.fixture
def read_model() -> FrozenReadModel:
    return FrozenReadModel()


@pytest.fixture
def scheduler(app: PerpetuaApplication, read_model: FrozenReadModel, clock: Clock) -> Scheduler:
    return Scheduler(
        app,
        due_reminders=read_model.due_reminders,
        due_templates=read_model.due_templates,
        clock=clock,
    )


def reminder_due_in(
    app: PerpetuaApplication, actor: Actor, read_model: FrozenReadModel, delay: timedelta
) -> tuple[UUID, UUID]:
    task = app.create_task(CreateTask(actor=actor, title="Call the plumber")).aggregate
    saved, reminder_id = app.add_reminder(
        AddReminder(actor, task.id, remind_at=app.clock() + delay)
    )
    fires_at = saved.aggregate.reminders[reminder_id].fires_at
    read_model.reminders.append(DueReminder(task.id, reminder_id, fires_at))
    return task.id, reminder_id


def count(app: PerpetuaApplication, aggregate_id: UUID, kind: type[object]) -> int:
    return sum(isinstance(e, kind) for e in app.events.get(aggregate_id))


def test_due_reminders_fire_on_the_tick_and_never_again(
    app: PerpetuaApplication,
    alice: Actor,
    read_model: FrozenReadModel,
    scheduler: Scheduler,
    clock: Clock,
) -> None:
    due = [reminder_due_in(app, alice, read_model, n * MINUTE) for n in (1, 2, 30)]
    assert not scheduler.tick().acted

    clock.now += 2 * MINUTE
    assert scheduler.tick().reminders == {"fired": 2}
    assert scheduler.tick().reminders == {}  # listed again by the lagging read model
    assert [count(app, task_id, Task.ReminderFired) for task_id, _ in due] == [1, 1, 0]


def test_a_tick_that_runs_twice_makes_one_instance_per_occurrence(
    app: PerpetuaApplication,
    alice: Actor,
    read_model: FrozenReadModel,
    scheduler: Scheduler,
    clock: Clock,
) -> None:
    template = app.create_template(
        CreateTemplate(actor=alice, title="Stand-up", rrule="FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
    ).aggregate
    assert template.next_occurrence_at is not None
    read_model.templates.append(DueTemplate(template.id, template.next_occurrence_at))

    clock.now = template.next_occurrence_at + MINUTE
    assert scheduler.tick().templates == {"created": 1}
    assert scheduler.tick().templates == {}
    events = app.events.get(template.id)
    [created] = [e for e in events if isinstance(e, TaskTemplate.InstanceCreated)]
    task: Task = app.repository.get(created.task_id)
    assert task.template_id == template.id


def test_one_item_that_fails_does_not_stop_the_others(
    app: PerpetuaApplication,
    alice: Actor,
    read_model: FrozenReadModel,
    scheduler: Scheduler,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = reminder_due_in(app, alice, read_model, MINUTE)
    healthy = reminder_due_in(app, alice, read_model, MINUTE)
    fire = app.fire_reminder

    def flaky(command: FireReminder) -> object:
        if command.reminder_id == broken[1]:
            raise RuntimeError("the database went away for this one")
        return fire(command)

    monkeypatch.setattr(app, "fire_reminder", flaky)
    clock.now += 2 * MINUTE
    assert scheduler.tick().reminders == {"failed": 1, "fired": 1}
    assert count(app, healthy[0], Task.ReminderFired) == 1

    monkeypatch.setattr(app, "fire_reminder", fire)  # it recovers: the next tick fires it
    assert scheduler.tick().reminders == {"fired": 1}


def test_reminders_of_vanished_tasks_are_nothing_to_do(
    read_model: FrozenReadModel, scheduler: Scheduler, clock: Clock
) -> None:
    read_model.reminders.append(DueReminder(uuid4(), uuid4(), clock.now))
    read_model.templates.append(DueTemplate(uuid4(), clock.now))
    assert not scheduler.tick().acted


def test_fired_reminders_and_their_delay_are_measured(
    app: PerpetuaApplication,
    alice: Actor,
    read_model: FrozenReadModel,
    scheduler: Scheduler,
    clock: Clock,
) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    fired_before = sample("perpetua_reminders_fired_total", late="true")
    delays_before = sample("perpetua_reminder_delay_seconds_count")
    reminder_due_in(app, alice, read_model, MINUTE)
    clock.now += 10 * MINUTE  # the scheduler was down
    scheduler.tick()
    assert sample("perpetua_reminders_fired_total", late="true") == fired_before + 1
    assert sample("perpetua_reminder_delay_seconds_count") == delays_before + 1
    assert sample("perpetua_scheduler_lag_seconds") == 9 * 60
