"""Recurring templates: their rules, and one instance per occurrence on the local clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from aggregates.errors import DomainError
from aggregates.inbox import Inbox
from aggregates.task import Task
from aggregates.task_rules import SubtaskLimitExceededError, VersionConflictError
from aggregates.template import InvalidTemplateError, TaskTemplate, TemplateNotFoundError
from commands.application import PerpetuaApplication
from commands.limits import Limits, TierLimits
from commands.messages import (
    Actor,
    CreateTemplate,
    DeleteTemplate,
    PauseTemplate,
    ResumeTemplate,
    RunTemplate,
    SignIn,
    UpdateProfile,
    UpdateTemplate,
)
from tests.fakes.clock import Clock

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DAILY_AT_NINE = "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"


def application(clock: Clock, active_tasks: int | None) -> PerpetuaApplication:
    free = TierLimits(active_tasks=active_tasks, description_length=100, subtasks_per_task=4)
    limits = Limits(tiers={"free": free, "pro": free})
    return PerpetuaApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, limits=limits, clock=clock
    )


@pytest.fixture
def app(clock: Clock) -> PerpetuaApplication:
    return application(clock, active_tasks=None)


@pytest.fixture
def alice(app: PerpetuaApplication) -> Actor:
    return amsterdammer(app)


def amsterdammer(app: PerpetuaApplication) -> Actor:
    user_id = app.sign_in(SignIn("dev", "a@example.com", "a@example.com", "A")).user.id
    app.update_profile(UpdateProfile(Actor(user_id), {"timezone": "Europe/Amsterdam"}))
    return Actor(user_id)


def template(app: PerpetuaApplication, actor: Actor, rrule: str, **fields: Any) -> TaskTemplate:
    fields.setdefault("title", "Water the plants")
    return app.create_template(CreateTemplate(actor=actor, rrule=rrule, **fields)).aggregate


def reload(app: PerpetuaApplication, template_id: UUID) -> TaskTemplate:
    stored: TaskTemplate = app.repository.get(template_id)
    return stored


def instances(app: PerpetuaApplication, template_id: UUID) -> list[TaskTemplate.InstanceCreated]:
    return [e for e in app.events.get(template_id) if isinstance(e, TaskTemplate.InstanceCreated)]


def run_through(
    app: PerpetuaApplication, clock: Clock, template_id: UUID, until: datetime
) -> list[datetime]:
    """Move the clock from occurrence to occurrence, as a punctual scheduler would see it."""
    while (next_at := reload(app, template_id).next_occurrence_at) and next_at <= until:
        clock.now = next_at + timedelta(seconds=3)
        assert app.run_template(RunTemplate(template_id)) == "created"
    return [e.occurrence_at for e in instances(app, template_id)]


def local(moments: list[datetime]) -> list[str]:
    return [f"{m.astimezone(AMSTERDAM):%a %d %b %H:%M %Z}" for m in moments]


def test_a_daily_nine_oclock_stays_nine_oclock_across_the_spring_change(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    clock.now = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # the clocks go forward on 29 March
    daily = template(app, alice, DAILY_AT_NINE)
    fired = run_through(app, clock, daily.id, until=datetime(2026, 3, 31, tzinfo=UTC))
    assert local(fired) == [
        "Sat 28 Mar 09:00 CET",
        "Sun 29 Mar 09:00 CEST",
        "Mon 30 Mar 09:00 CEST",
    ]
    assert [f"{m:%H:%M}" for m in fired] == ["08:00", "07:00", "07:00"]  # UTC


def test_a_daily_nine_oclock_stays_nine_oclock_across_the_autumn_change(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    clock.now = datetime(2026, 10, 23, 12, 0, tzinfo=UTC)  # the clocks go back on 25 October
    daily = template(app, alice, DAILY_AT_NINE)
    fired = run_through(app, clock, daily.id, until=datetime(2026, 10, 27, tzinfo=UTC))
    assert local(fired) == [
        "Sat 24 Oct 09:00 CEST",
        "Sun 25 Oct 09:00 CET",
        "Mon 26 Oct 09:00 CET",
    ]
    assert [f"{m:%H:%M}" for m in fired] == ["07:00", "08:00", "08:00"]


def test_a_weekly_template_keeps_its_local_time_through_both_changes(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    clock.now = datetime(2026, 3, 16, 12, 0, tzinfo=UTC)
    weekly = template(app, alice, "FREQ=WEEKLY;BYDAY=SU;BYHOUR=10;BYMINUTE=30")
    fired = run_through(app, clock, weekly.id, until=datetime(2026, 11, 2, tzinfo=UTC))
    assert len(fired) == 33
    assert {f"{m.astimezone(AMSTERDAM):%a %H:%M}" for m in fired} == {"Sun 10:30"}
    around_changes = [m for m in fired if m.month in (3, 4, 10, 11)]
    assert local(around_changes[:3]) == [
        "Sun 22 Mar 10:30 CET",
        "Sun 29 Mar 10:30 CEST",
        "Sun 05 Apr 10:30 CEST",
    ]
    assert local(around_changes[-3:]) == [
        "Sun 18 Oct 10:30 CEST",
        "Sun 25 Oct 10:30 CET",
        "Sun 01 Nov 10:30 CET",
    ]


def test_running_the_same_occurrence_twice_creates_one_instance(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    daily = template(app, alice, DAILY_AT_NINE, subtasks=["fill the can", "water"])
    assert daily.next_occurrence_at is not None
    clock.now = daily.next_occurrence_at + timedelta(seconds=1)
    assert app.run_template(RunTemplate(daily.id)) == "created"
    assert app.run_template(RunTemplate(daily.id)) is None

    [created] = instances(app, daily.id)
    task: Task = app.repository.get(created.task_id)
    assert (task.template_id, task.title) == (daily.id, "Water the plants")
    assert [s["title"] for s in task.state()["subtasks"]] == ["fill the can", "water"]
    assert reload(app, daily.id).next_occurrence_at == created.occurrence_at + timedelta(days=1)


def test_after_downtime_only_the_latest_missed_occurrence_gets_an_instance(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    daily = template(app, alice, DAILY_AT_NINE)
    assert daily.next_occurrence_at is not None
    clock.now = daily.next_occurrence_at + timedelta(days=2, hours=1)
    assert app.run_template(RunTemplate(daily.id)) == "created"
    [created] = instances(app, daily.id)
    assert created.occurrence_at == daily.next_occurrence_at + timedelta(days=2)
    assert created.missed == 2


def test_an_occurrence_over_the_active_task_limit_is_skipped_with_a_notification(
    clock: Clock,
) -> None:
    app = application(clock, active_tasks=3)
    alice = amsterdammer(app)
    clock.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    daily = template(app, alice, DAILY_AT_NINE)
    fired = run_through(app, clock, daily.id, until=datetime(2026, 11, 5, 12, tzinfo=UTC))
    assert len(fired) == 3  # the limit

    clock.now += timedelta(days=1)
    assert app.run_template(RunTemplate(daily.id)) == "skipped"
    skipped = [e for e in app.events.get(daily.id) if isinstance(e, TaskTemplate.OccurrenceSkipped)]
    assert [(e.reason, e.missed) for e in skipped] == [("TASK_LIMIT_EXCEEDED", 0)]
    posted = app.events.get(Inbox.create_id(alice.user_id))
    titles = [e.title for e in posted if getattr(e, "kind", None) == "template_skipped"]
    assert titles == ["Not created: Water the plants"]
    # The template goes on: the next occurrence is tomorrow's.
    assert reload(app, daily.id).next_occurrence_at == skipped[0].occurrence_at + timedelta(days=1)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"rrule": "not a rule"}, "rrule"),
        ({"rrule": "FREQ=DAILY;BYHOUR=25"}, "rrule"),
        ({"rrule": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY"}, "rrule"),
        ({"rrule": "FREQ=MINUTELY;INTERVAL=30"}, "rrule"),
        ({"rrule": "FREQ=HOURLY;BYMINUTE=0,30"}, "rrule"),
        ({"rrule": "FREQ=DAILY;BYHOUR=9,10;BYMINUTE=0,45"}, "rrule"),
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule"),
        ({"rrule": "FREQ=DAILY;COUNT=2", "starts_at": -30}, "rrule"),  # over already
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"starts_at": 2 * 366}, "starts_at"),
        ({"title": " "}, "title"),
        ({"priority": "urgent"}, "priority"),
    ],
)
def test_a_template_needs_a_valid_rule_timezone_and_task(
    app: PerpetuaApplication,
    alice: Actor,
    clock: Clock,
    fields: dict[str, Any],
    field: str,
) -> None:
    if "starts_at" in fields:  # days from now
        fields["starts_at"] = clock.now + timedelta(days=fields["starts_at"])
    with pytest.raises(DomainError) as refused:
        template(app, alice, fields.pop("rrule", DAILY_AT_NINE), **fields)
    assert (refused.value.code, refused.value.details) == ("VALIDATION_ERROR", {"field": field})


def test_a_template_holds_at_most_the_tiers_subtasks(
    app: PerpetuaApplication, alice: Actor
) -> None:
    with pytest.raises(SubtaskLimitExceededError):
        template(app, alice, DAILY_AT_NINE, subtasks=[f"step {n}" for n in range(5)])


def test_the_timezone_defaults_to_the_users_and_an_rrule_prefix_is_accepted(
    app: PerpetuaApplication, alice: Actor
) -> None:
    created = template(app, alice, "RRULE:freq=daily;byhour=9;byminute=0")
    assert (created.timezone, created.rrule) == ("Europe/Amsterdam", DAILY_AT_NINE)
    elsewhere = template(app, alice, DAILY_AT_NINE, timezone="America/New_York")
    assert elsewhere.next_occurrence_at is not None
    assert elsewhere.next_occurrence_at.astimezone(ZoneInfo("America/New_York")).hour == 9


def test_a_paused_template_makes_nothing_and_resumes_from_the_next_occurrence(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    daily = template(app, alice, DAILY_AT_NINE)
    app.pause_template(PauseTemplate(alice, daily.id))
    clock.now += timedelta(days=3)
    assert app.run_template(RunTemplate(daily.id)) is None
    resumed = app.resume_template(ResumeTemplate(alice, daily.id)).aggregate
    assert resumed.next_occurrence_at is not None
    assert clock.now < resumed.next_occurrence_at <= clock.now + timedelta(days=1)
    assert instances(app, daily.id) == []


def test_editing_the_rule_moves_the_next_occurrence_and_a_stale_version_is_refused(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
    daily = template(app, alice, DAILY_AT_NINE)
    weekly = "FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=0"
    edited = app.update_template(
        UpdateTemplate(alice, daily.id, daily.version, {"rrule": weekly, "title": "Plan"})
    ).aggregate
    assert (edited.title, edited.rrule) == ("Plan", weekly)
    assert edited.next_occurrence_at is not None
    assert local([edited.next_occurrence_at]) == ["Mon 30 Nov 08:00 CET"]
    with pytest.raises(VersionConflictError):
        app.update_template(UpdateTemplate(alice, daily.id, daily.version, {"title": "Late"}))
    with pytest.raises(InvalidTemplateError):
        app.update_template(UpdateTemplate(alice, daily.id, edited.version, {"rrule": "FREQ="}))


def test_a_deleted_template_makes_nothing_and_is_not_found(
    app: PerpetuaApplication, alice: Actor, clock: Clock
) -> None:
    daily = template(app, alice, DAILY_AT_NINE)
    app.delete_template(DeleteTemplate(alice, daily.id))
    clock.now += timedelta(days=2)
    assert app.run_template(RunTemplate(daily.id)) is None
    with pytest.raises(TemplateNotFoundError):
        app.pause_template(PauseTemplate(alice, daily.id))


def test_someone_elses_template_is_not_found(app: PerpetuaApplication, alice: Actor) -> None:
    mallory = Actor(app.sign_in(SignIn("dev", "m@example.com", "m@example.com", "M")).user.id)
    daily = template(app, alice, DAILY_AT_NINE)
    with pytest.raises(TemplateNotFoundError):
        app.pause_template(PauseTemplate(mallory, daily.id))
