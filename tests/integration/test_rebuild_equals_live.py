"""A rebuild writes exactly the rows the live projector wrote from the same events, in every
table of every read model: a rebuild applies thousands of events per transaction with its
writes batched and set-based, the live projector one or two at a time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from psycopg import sql

from commands.application import PerpetuaApplication
from commands.messages import (
    Actor,
    AddNote,
    AddReminder,
    AddSubtask,
    ArchiveTask,
    ChangeReminder,
    CompleteSubtask,
    CompleteTask,
    CreateTask,
    CreateTemplate,
    DeleteTask,
    DeleteTemplate,
    EditNote,
    EndFocus,
    FireReminder,
    HideTask,
    MarkAllNotificationsRead,
    PauseTemplate,
    RemoveNote,
    RemoveReminder,
    RemoveSubtask,
    RenameSubtask,
    ReopenSubtask,
    ReopenTask,
    ReorderSubtasks,
    RestoreTask,
    ResumeTemplate,
    RunTemplate,
    SignIn,
    SpendCredits,
    StartFocus,
    UnarchiveTask,
    UnhideTask,
    UpdateProfile,
    UpdateTask,
    UpdateTemplate,
)
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application, build_views
from projections import activity
from projections.base import close_views
from projections.registry import PROJECTIONS
from projectors import rebuild
from tests.fakes.clock import Clock
from tests.integration.support import pro_user

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def app(fresh_database: DatabaseAddress, clock: Clock) -> Iterator[PerpetuaApplication]:
    application = build_application(Settings(), fresh_database, clock=clock)
    yield application
    application.close()


def write_everything(app: PerpetuaApplication, clock: Clock) -> None:
    """Every kind of event the read models show, for a few users, interleaved."""
    pro = pro_user(app, "pro@example.com")
    free = Actor(app.sign_in(SignIn("dev", "free@example.com", "free@example.com", "F")).user.id)
    app.update_profile(UpdateProfile(free, {"name": "Free \x00 Again", "timezone": "Europe/Paris"}))
    for number in range(6):
        actor = pro if number % 2 else free
        due = clock.now + timedelta(days=1)
        task = app.create_task(CreateTask(actor, f"task {number}", "words", due_date=due)).aggregate
        app.update_task(UpdateTask(actor, task.id, 1, {"title": f"renamed {number}"}))
        subtasks = [app.add_subtask(AddSubtask(actor, task.id, f"step {n}"))[1] for n in range(3)]
        app.rename_subtask(RenameSubtask(actor, task.id, subtasks[0], "first step"))
        app.complete_subtask(CompleteSubtask(actor, task.id, subtasks[1]))
        app.reopen_subtask(ReopenSubtask(actor, task.id, subtasks[1]))
        app.reorder_subtasks(ReorderSubtasks(actor, task.id, list(reversed(subtasks))))
        app.remove_subtask(RemoveSubtask(actor, task.id, subtasks[2]))
        note = app.add_note(AddNote(actor, task.id, "a note"))[1]
        app.edit_note(EditNote(actor, task.id, note, "an edited note"))
        if number % 3 == 0:
            app.remove_note(RemoveNote(actor, task.id, note))
        reminder = app.add_reminder(
            AddReminder(actor, task.id, remind_at=clock.now + timedelta(hours=1))
        )[1]
        app.change_reminder(
            ChangeReminder(actor, task.id, reminder, remind_at=clock.now + timedelta(hours=2))
        )
        spare = app.add_reminder(AddReminder(actor, task.id, offset_minutes=30))[1]
        app.remove_reminder(RemoveReminder(actor, task.id, spare))
        focus = app.start_focus(StartFocus(actor, task.id, 25)).aggregate
        clock.now += timedelta(minutes=30)
        app.end_focus(EndFocus(actor, focus.id, completed=True))
        if number % 2:
            app.complete_task(CompleteTask(actor, task.id, force=True))
        if number == 3:
            app.reopen_task(ReopenTask(actor, task.id))
        app.hide_task(HideTask(actor, task.id))
        app.unhide_task(UnhideTask(actor, task.id))
        app.archive_task(ArchiveTask(actor, task.id))
        app.unarchive_task(UnarchiveTask(actor, task.id))
        if number % 2 == 0:
            app.delete_task(DeleteTask(actor, task.id))
        if number == 2:
            app.restore_task(RestoreTask(actor, task.id))
        clock.now += timedelta(hours=3)
        app.fire_reminder(FireReminder(task.id, reminder))
    template = app.create_template(
        CreateTemplate(pro, "Water the plants", "FREQ=DAILY;BYHOUR=9;BYMINUTE=0", subtasks=["a"])
    ).aggregate
    app.update_template(UpdateTemplate(pro, template.id, 1, {"title": "Water them"}))
    for _ in range(3):
        clock.now += timedelta(days=1)
        app.run_template(RunTemplate(template.id))
    app.pause_template(PauseTemplate(pro, template.id))
    app.resume_template(ResumeTemplate(pro, template.id))
    app.spend_credits(SpendCredits(pro, 2, "ai_chat", uuid.uuid4()))
    app.mark_all_notifications_read(MarkAllNotificationsRead(pro))
    app.delete_template(DeleteTemplate(pro, template.id))


def project_live(address: DatabaseAddress, app: PerpetuaApplication) -> None:
    """Every projection, one event per transaction, as the live projector applies them."""
    views = build_views(address)
    try:
        notes = app.recorder.select_notifications(start=1, limit=100_000)
        for name, view in views.items():
            projection = PROJECTIONS[name][0](view)
            for note in notes:
                event = app.mapper.to_domain_event(note)
                projection.process_batch([(event, note.id)], Tracking(app.name, note.id))
    finally:
        close_views(views)


def every_row(address: DatabaseAddress) -> dict[str, list[str]]:
    """Every table of every read model (tracking aside), each row as PostgreSQL prints it."""
    views = build_views(address)
    tables = sorted({table for view in views.values() for table in view.table_names})
    close_views(views)
    with psycopg.connect(address.conninfo) as conn:
        return {
            table: [
                row[0]
                for row in conn.execute(
                    sql.SQL("SELECT t::text FROM read.{} AS t ORDER BY 1").format(
                        sql.Identifier(table)
                    )
                )
            ]
            for table in tables
        }


def rebuild_all(app: PerpetuaApplication, address: DatabaseAddress) -> None:
    rebuild.rebuild_together(app, address, list(PROJECTIONS.values()))


def test_a_rebuild_of_every_projection_writes_the_rows_the_live_projector_wrote(
    fresh_database: DatabaseAddress,
    app: PerpetuaApplication,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_everything(app, clock)
    project_live(fresh_database, app)
    live = every_row(fresh_database)
    assert [table for table, rows in live.items() if not rows] == []

    rebuild_all(app, fresh_database)
    assert every_row(fresh_database) == live

    # Again in small pages that cut aggregates in two, with an owner cache that keeps
    # forgetting: the activity log then reads owners back while rows wait to be written.
    monkeypatch.setattr(rebuild, "BATCH_SIZE", 17)
    monkeypatch.setattr(activity, "OWNER_CACHE_SIZE", 2)
    rebuild_all(app, fresh_database)
    assert every_row(fresh_database) == live
