"""A rebuild writes exactly the rows the live projector wrote from the same events, in every
table of every read model: a rebuild applies thousands of events per transaction with its
writes batched and set-based, the live projector one or two at a time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from psycopg import sql

from commands.application import PerpetuaApplication
from commands.messages import (
    Actor,
    DeleteTemplate,
    MarkAllNotificationsRead,
    SignIn,
    SpendCredits,
    UpdateProfile,
)
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application, build_views
from projections import activity
from projections.base import close_views
from projections.registry import PROJECTIONS
from projectors import rebuild
from tests.fakes.clock import Clock
from tests.histories import write_tasks, write_template
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
    write_tasks(app, clock, pro, free)
    template_id = write_template(app, clock, pro)
    app.spend_credits(SpendCredits(pro, 2, "ai_chat", uuid.uuid4()))
    app.mark_all_notifications_read(MarkAllNotificationsRead(pro))
    app.delete_template(DeleteTemplate(pro, template_id))


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
