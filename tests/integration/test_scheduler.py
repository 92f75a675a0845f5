"""The scheduler on a real PostgreSQL: exactly once with two of them, and nothing lost to a
restart. Each scheduler has its own application and views, as separate processes would; the
clock is moved by hand."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from aggregates.task import Task
from aggregates.template import TaskTemplate
from commands.application import PerpetuaApplication
from commands.messages import AddReminder, CreateTask, CreateTemplate
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application, build_scheduler, build_views
from projections.base import ReadModelView, close_views
from projectors.scheduler import Scheduler
from tests.fakes.clock import Clock
from tests.integration.support import pro_user, project_views

pytestmark = pytest.mark.integration

SCHEDULER_VIEWS = ["task_list", "templates"]


@contextmanager
def scheduler_process(
    address: DatabaseAddress, clock: Clock
) -> Iterator[tuple[Scheduler, PerpetuaApplication, dict[str, ReadModelView]]]:
    """What `perpetua scheduler` builds: an application and views of its own."""
    app = build_application(Settings(), address, clock=clock)
    views = build_views(address, SCHEDULER_VIEWS)
    try:
        yield build_scheduler(app, views), app, views
    finally:
        app.close()
        close_views(views)


def stored(app: PerpetuaApplication, kind: type[Any]) -> list[Any]:
    """Every event of `kind` in the whole store, decoded."""
    notifications = app.recorder.select_notifications(start=1, limit=100_000)
    events = [app.mapper.to_domain_event(n) for n in notifications]
    return [e for e in events if isinstance(e, kind)]


def test_two_schedulers_fire_fifty_reminders_due_in_one_minute_exactly_once(
    fresh_database: DatabaseAddress,
) -> None:
    clock = Clock()
    start = clock.now
    setup = build_application(Settings(), fresh_database, clock=clock)
    views = build_views(fresh_database, SCHEDULER_VIEWS)
    try:
        actor = pro_user(setup, "busy@example.com")
        reminder_ids: set[UUID] = set()
        for number in range(25):  # two reminders per task: firings race on the same task too
            task_id = setup.create_task(CreateTask(actor, f"task {number}")).aggregate.id
            for second in (number, number + 30):
                at = start + timedelta(minutes=1, seconds=second)
                reminder_ids.add(setup.add_reminder(AddReminder(actor, task_id, at))[1])
        templates = []
        for number in range(5):  # daily, first due in the same minute
            first = start + timedelta(seconds=70 + number)
            command = CreateTemplate(actor, f"routine {number}", "FREQ=DAILY", starts_at=first)
            templates.append(setup.create_template(command).aggregate.id)
        project_views(setup, views)
    finally:
        setup.close()
        close_views(views)

    clock.now = start + timedelta(minutes=2)
    ready = threading.Barrier(2)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def run_one() -> None:
        with scheduler_process(fresh_database, clock) as (scheduler, _, _):
            ready.wait()
            report = scheduler.tick()
        with lock:
            outcomes.update(report.reminders)
            outcomes.update(report.templates)

    threads = [threading.Thread(target=run_one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert outcomes == Counter(fired=50, created=5)  # between them, each exactly once
    with scheduler_process(fresh_database, clock) as (_, app, _):
        fired = stored(app, Task.ReminderFired)
        assert sorted(e.reminder_id for e in fired) == sorted(reminder_ids)
        instances = stored(app, TaskTemplate.InstanceCreated)
        assert sorted(e.originator_id for e in instances) == sorted(templates)
        created = [e for e in stored(app, Task.Created) if e.template_id]
        assert len(created) == 5


def test_a_reminder_that_fell_due_while_the_scheduler_was_stopped_fires_late_on_restart(
    fresh_database: DatabaseAddress,
) -> None:
    clock = Clock()
    start = clock.now
    with scheduler_process(fresh_database, clock) as (scheduler, app, views):
        actor = pro_user(app, "sleepy@example.com")
        task_id = app.create_task(CreateTask(actor, "Renew the passport")).aggregate.id
        at = start + timedelta(seconds=30)
        reminder_id = app.add_reminder(AddReminder(actor, task_id, at))[1]
        project_views(app, views)
        clock.now = start + timedelta(seconds=10)
        assert not scheduler.tick().acted  # not yet; then the scheduler stops

    clock.now = start + timedelta(minutes=10)  # ... and comes back ten minutes later
    with scheduler_process(fresh_database, clock) as (scheduler, app, _):
        assert scheduler.tick().reminders == {"fired": 1}
        assert not scheduler.tick().acted
        [fired] = stored(app, Task.ReminderFired)
        assert (fired.reminder_id, fired.scheduled_for) == (reminder_id, at)
        assert (fired.late, fired.delay_seconds) == (True, 570.0)
