"""Events stored before the API refused NUL still project, rebuild and verify.

Such events are appended here through the application itself, bypassing HTTP, the way an
older version of the write API would have stored them. Events are forever: the read model
must take them as they are.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from psycopg import sql

from commands.application import PerpetuaApplication
from commands.messages import (
    Actor,
    AddNote,
    AddSubtask,
    CreateTask,
    DeleteTask,
    SignIn,
    UpdateProfile,
)
from infra.database import EVENT_STORE_NAME, DatabaseAddress
from perpetua.wiring import build_views
from projections.registry import PROJECTIONS
from projectors.rebuild import rebuild
from projectors.verify import verify_store
from readapi.history import EventStoreReader, TaskHistory
from tests.integration.support import every_projection_running, wait_for_all

pytestmark = pytest.mark.integration

NUL, REPLACEMENT = "\u0000", "\ufffd"


def store_text_with_nul(app: PerpetuaApplication) -> tuple[Actor, Any]:
    """A user whose every kind of text holds a NUL; returns them and their kept task."""
    user = app.sign_in(SignIn("dev", "old@example.com", "old@example.com", f"Ol{NUL}d")).user
    actor = Actor(user.id)
    app.update_profile(UpdateProfile(actor, {"name": f"Pro{NUL}file"}))
    task = app.create_task(
        CreateTask(actor=actor, title=f"a{NUL}b", description=f"line{NUL}\nnext")
    ).aggregate
    app.add_subtask(AddSubtask(actor, task.id, f"sub{NUL}task"))
    app.add_note(AddNote(actor, task.id, f"no{NUL}te"))
    gone = app.create_task(CreateTask(actor=actor, title=f"gone{NUL}")).aggregate
    app.delete_task(DeleteTask(actor, gone.id))
    return actor, task


def read_tables(address: DatabaseAddress) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of every view in `read`, rows in a stable order."""
    views = build_views(address)
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(address.conninfo) as conn:
        for view in views.values():
            for table in view.table_names:
                rows = conn.execute(
                    sql.SQL("SELECT * FROM read.{}").format(sql.Identifier(table))
                ).fetchall()
                tables[table] = sorted(rows, key=repr)
    for view in views.values():
        view.datastore.close()
    return tables


def texts(address: DatabaseAddress, query: str) -> list[Any]:
    with psycopg.connect(address.conninfo) as conn:
        return [row[0] for row in conn.execute(query).fetchall()]


def test_old_events_with_a_nul_project_everywhere_with_a_replacement_character(
    fresh_database: DatabaseAddress, application: PerpetuaApplication
) -> None:
    actor, task = store_text_with_nul(application)
    head = application.recorder.max_notification_id() or 0

    with every_projection_running(fresh_database, application) as workers:
        wait_for_all(workers.values(), head)

    db = fresh_database
    assert texts(db, "SELECT title || '|' || description FROM read.tasks WHERE NOT deleted") == [
        f"a{REPLACEMENT}b|line{REPLACEMENT}\nnext"
    ]
    assert texts(db, "SELECT title FROM read.subtasks") == [f"sub{REPLACEMENT}task"]
    assert texts(db, "SELECT content FROM read.notes") == [f"no{REPLACEMENT}te"]
    assert texts(db, "SELECT title FROM read.tombstones") == [f"gone{REPLACEMENT}"]
    assert texts(db, "SELECT name FROM read.users") == [f"Pro{REPLACEMENT}file"]
    positions = [note.id for note in application.recorder.select_notifications(start=1, limit=99)]
    assert texts(db, "SELECT position FROM read.activity ORDER BY position") == positions
    assert any(REPLACEMENT in summary for summary in texts(db, "SELECT summary FROM read.activity"))

    live = read_tables(db)
    for name, (projection_class, view_class) in PROJECTIONS.items():
        assert rebuild(application, db, projection_class, view_class).position == head, name
    assert read_tables(db) == live

    assert verify_store(application).intact
    reader = EventStoreReader(env=db.eventsourcing_env())
    try:
        history = TaskHistory(reader)
        assert history.events(actor.user_id, task.id)[0].data["title"] == f"a{NUL}b"
        first = history.task_at(actor.user_id, task.id, version=1, as_of=None)
        assert (first.title, first.description) == (f"a{NUL}b", f"line{NUL}\nnext")
    finally:
        reader.close()


def test_the_store_cannot_even_hold_a_lone_surrogate(application: PerpetuaApplication) -> None:
    # The library's JSON transcoder writes UTF-8, which has no encoding for one: the command
    # fails before anything is appended, so no stored event can carry one.
    user = application.sign_in(SignIn("dev", "s@example.com", "s@example.com", "S")).user
    head = application.recorder.max_notification_id()
    with pytest.raises(UnicodeEncodeError):
        application.create_task(CreateTask(actor=Actor(user.id), title="a\ud800b"))
    assert application.recorder.max_notification_id() == head


def test_a_view_session_binds_any_text_storably_however_it_is_executed(
    fresh_database: DatabaseAddress,
) -> None:
    view = build_views(fresh_database, ["task_list"])["task_list"]
    with psycopg.connect(fresh_database.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE read.scratch (a text, b text, c text[])")
    try:
        # Handlers call both: the session's execute, and its cursor's directly.
        with view.session(Tracking(EVENT_STORE_NAME, 1)) as session:
            session.execute(
                sql.SQL("INSERT INTO read.scratch VALUES (%(a)s, %(b)s, %(c)s)"),
                {"a": f"x{NUL}", "b": "y\ud800", "c": [f"z{NUL}", "ok"]},
            )
            session.cursor.execute(
                "INSERT INTO read.scratch VALUES (%s, %b, %s)", (f"é{NUL}", f"{NUL}", ["\udfff"])
            )
        assert sorted(texts(fresh_database, "SELECT a || b || c[1] FROM read.scratch")) == [
            f"x{REPLACEMENT}y{REPLACEMENT}z{REPLACEMENT}",
            f"é{REPLACEMENT}{REPLACEMENT}{REPLACEMENT}",
        ]
    finally:
        view.datastore.close()
