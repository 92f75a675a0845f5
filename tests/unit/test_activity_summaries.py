"""What the activity log says about reminders, templates and their notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregates.template import TaskTemplate
from commands.application import PerpetuaApplication
from commands.limits import Limits, TierLimits
from commands.messages import (
    Actor,
    AddReminder,
    CreateTask,
    CreateTemplate,
    FireReminder,
    RunTemplate,
    SignIn,
)
from projections.activity import ActivityProjection, describe
from tests.fakes.clock import Clock


def test_reminder_and_template_events_read_well_in_the_activity_log(clock: Clock) -> None:
    one_task = TierLimits(active_tasks=1, description_length=100)
    app = PerpetuaApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        limits=Limits(tiers={"free": one_task, "pro": one_task}),
        clock=clock,
    )
    clock.now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    actor = Actor(app.sign_in(SignIn("dev", "a@example.com", "a@example.com", "A")).user.id)
    task = app.create_task(CreateTask(actor, "Call the plumber")).aggregate
    reminder_id = app.add_reminder(AddReminder(actor, task.id, clock.now + timedelta(hours=1)))[1]
    template = app.create_template(
        CreateTemplate(actor, "Water the plants", "FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
    ).aggregate
    clock.now += timedelta(hours=3)  # the scheduler was away: the reminder fires late
    app.fire_reminder(FireReminder(task.id, reminder_id))
    app.run_template(RunTemplate(template.id))  # one active task already: skipped

    notifications = app.recorder.select_notifications(start=1, limit=1000)
    events = [app.mapper.to_domain_event(n) for n in notifications]
    rows = [describe(e, actor.user_id) for e in events]
    said = {(r.entity_type, r.action, r.summary) for r in rows}
    assert {
        ("reminder", "added", "reminder added"),
        ("reminder", "fired", "reminder fired late"),
        ("notification", "posted", "notification posted: Reminder: Call the plumber"),
        ("task_template", "created", "task template created: Water the plants"),
        (
            "task_template",
            "occurrence_skipped",
            "task template occurrence skipped for 2026-11-25 09:00 UTC: TASK_LIMIT_EXCEEDED",
        ),
    } <= said
    fired = next(r for r in rows if r.action == "fired")
    assert fired.entity_id == reminder_id
    # A template's first event names its owner, so every later event has a row for them.
    created = next(e for e in events if isinstance(e, TaskTemplate.Created))
    assert ActivityProjection._owner_named_by(created) == actor.user_id
