"""A projector SIGKILLed at twenty random moments of a catch-up loses and doubles nothing."""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time

import psycopg
import pytest
from psycopg import sql

from aggregates.credit_ledger import InsufficientCreditsError
from commands.application import PerpetuaApplication
from commands.messages import CompleteTask, CreateTask, SpendCredits
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application
from projections.registry import PROJECTIONS
from projectors.rebuild import rebuild
from tests.faults.conftest import FaultLedger
from tests.faults.support import read_model, start_projector
from tests.integration.support import pro_user, wait_until, write_history

pytestmark = [pytest.mark.faults, pytest.mark.integration]

KILLS = 20


def every_projection_at(address: DatabaseAddress, app: PerpetuaApplication, head: int) -> bool:
    with psycopg.connect(address.conninfo) as conn:
        for name in PROJECTIONS:
            row = conn.execute(
                sql.SQL("SELECT notification_id FROM read.{} WHERE application_name = %s").format(
                    sql.Identifier(f"{name}_tracking")
                ),
                (app.name,),
            ).fetchone()
            if row is None or row[0] < head:
                return False
    return True


def test_a_projector_killed_twenty_times_mid_catch_up_equals_a_rebuild(
    fresh_database: DatabaseAddress, faults: FaultLedger
) -> None:
    app = build_application(Settings(), fresh_database)
    chooser = random.Random(20)  # seeded: the same twenty moments on every run
    try:
        write_history(app, tasks=400)
        writer_stop = threading.Event()
        actor = pro_user(app, "writer@example.com")

        def keep_writing() -> None:
            # More events keep arriving while the projector dies and comes back.
            while not writer_stop.is_set():
                task = app.create_task(CreateTask(actor, "late")).aggregate
                app.complete_task(CompleteTask(actor, task.id))
                with contextlib.suppress(InsufficientCreditsError):  # spent out: fine
                    app.spend_credits(SpendCredits(actor, 1, "fault test"))

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            for _ in range(KILLS):
                projector = start_projector(fresh_database)
                time.sleep(chooser.uniform(0.3, 1.5))  # the random moment of the kill
                projector.send_signal(signal.SIGKILL)
                assert projector.wait(timeout=10) == -signal.SIGKILL
                faults.injected += 1
        finally:
            writer_stop.set()
            writer.join(timeout=30)

        head = app.recorder.max_notification_id() or 0
        events = len(app.recorder.select_notifications(start=1, limit=head))
        last = start_projector(fresh_database)
        try:
            wait_until(lambda: every_projection_at(fresh_database, app, head), timeout=120)
        finally:
            last.send_signal(signal.SIGTERM)
            last.wait(timeout=20)
        survived = read_model(fresh_database)

        for projection_class, view_class in PROJECTIONS.values():
            rebuild(app, fresh_database, projection_class, view_class)
        rebuilt = read_model(fresh_database)
    finally:
        app.close()

    differing = [table for table in rebuilt if survived[table] != rebuilt[table]]
    missing = sum(len(set(rebuilt[t]) - set(survived[t])) for t in differing)
    extra = sum(len(survived[t]) - len(set(survived[t])) for t in survived)
    faults.lost += missing
    faults.duplicated += extra
    assert differing == []
    assert len(survived["activity"]) == events
