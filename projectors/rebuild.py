"""Rebuild a projection by replaying the store, then swap it in: blue/green, no downtime.

1. Fresh tables (and tracking) are built in a scratch schema `rebuild_<name>` by replaying
   the whole store in 500-event transactions, while the live tables keep serving reads and
   the live projector keeps following the store.
2. The swap is one transaction: lock the live tables (data tables first, then tracking: the
   order the projector writes them, so the two never deadlock), apply the few events that
   arrived meanwhile, then move the live tables out to `retired_<name>` and the new ones into
   `read`. Readers wait for that instant only; then they read the new tables by the same names.
3. The live projector's next batch finds the tracking row ahead of it, rolls back, and resumes
   from the new position: exactly once throughout.

Events an operator told the projection to skip (`read.projection_skips`) are skipped here too,
so a rebuild equals what the live projector shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Notification, Tracking
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from infra.database import READ_SCHEMA, DatabaseAddress
from projections.base import ReadModelProjection, ReadModelView, ViewSession, open_datastore
from projections.failures import ProjectionFailures

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# Only one rebuild of a projection at a time: pg_try_advisory_lock(this, hashtext(name)).
REBUILD_LOCK_CLASS = 0x5245_4255  # "REBU"

Progress = Callable[[int, int], None]  # (position reached, store head)


class RebuildInProgressError(RuntimeError):
    """Another rebuild of the same projection is running."""


@dataclass(frozen=True)
class RebuildReport:
    projection: str
    position: int
    events: int


def rebuild(
    app: Application[Any],
    address: DatabaseAddress,
    projection_class: type[ReadModelProjection[Any]],
    view_class: type[ReadModelView],
    *,
    on_progress: Progress = lambda position, head: None,
) -> RebuildReport:
    name = projection_class.name
    with psycopg.connect(address.conninfo, autocommit=True) as guard:
        claimed = guard.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (REBUILD_LOCK_CLASS, name)
        ).fetchone()
        if not claimed or not claimed[0]:
            msg = f"a rebuild of {name} is already running"
            raise RebuildInProgressError(msg)
        scratch, retired = f"rebuild_{name}", f"retired_{name}"
        for schema in (scratch, retired):
            guard.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
        guard.execute(SQL("CREATE SCHEMA {}").format(Identifier(scratch)))

        view = view_class(open_datastore(address, scratch, pool_size=1))
        try:
            view.create_table()
            projection = projection_class(view)
            skipped = _skipped(address, name)
            position, events = _replay(app, projection, skipped, on_progress)
            position, events = _swap(app, projection, skipped, scratch, retired, position, events)
        finally:
            view.datastore.close()
        for schema in (retired, scratch):
            guard.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
    logger.info("rebuilt projection %s to position %d (%d events)", name, position, events)
    return RebuildReport(projection=name, position=position, events=events)


def _skipped(address: DatabaseAddress, name: str) -> frozenset[int]:
    datastore = open_datastore(address, READ_SCHEMA, pool_size=1, max_overflow=0)
    try:
        failures = ProjectionFailures(datastore)
        failures.create_table()
        return failures.skipped(name)
    finally:
        datastore.close()


def _replay(
    app: Application[Any],
    projection: ReadModelProjection[Any],
    skipped: frozenset[int],
    on_progress: Progress,
) -> tuple[int, int]:
    """Apply the whole store to the scratch tables; returns (position, events applied)."""
    position, events = 0, 0
    while True:
        batch = app.recorder.select_notifications(
            start=position, limit=BATCH_SIZE, inclusive_of_start=False
        )
        if not batch:
            return position, events
        projection.process_batch(_decoded(app, batch, skipped), Tracking(app.name, batch[-1].id))
        position, events = batch[-1].id, events + len(batch)
        on_progress(position, max(app.recorder.max_notification_id() or 0, position))


def _swap(
    app: Application[Any],
    projection: ReadModelProjection[Any],
    skipped: frozenset[int],
    scratch: str,
    retired: str,
    position: int,
    events: int,
) -> tuple[int, int]:
    view = projection.view
    tables = [*view.table_names, view.tracking_table_name]
    with view.datastore.transaction(commit=True) as cursor:
        live = _existing(cursor, tables)
        for table in live:
            cursor.execute(
                SQL("LOCK TABLE {}.{} IN ACCESS EXCLUSIVE MODE").format(
                    Identifier(READ_SCHEMA), Identifier(table)
                )
            )
        # With the live projector held, whatever arrived during the replay goes in now.
        replayed_to = position
        while batch := app.recorder.select_notifications(
            start=position, limit=BATCH_SIZE, inclusive_of_start=False
        ):
            projection.apply_all(_decoded(app, batch, skipped), ViewSession(cursor))
            position, events = batch[-1].id, events + len(batch)
        if position > replayed_to:
            view.track(cursor, Tracking(app.name, position))
        cursor.execute(SQL("CREATE SCHEMA {}").format(Identifier(retired)))
        for table in live:
            cursor.execute(
                SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                    Identifier(READ_SCHEMA), Identifier(table), Identifier(retired)
                )
            )
        for table in tables:
            cursor.execute(
                SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                    Identifier(scratch), Identifier(table), Identifier(READ_SCHEMA)
                )
            )
    return position, events


def _existing(cursor: Cursor[DictRow], tables: Sequence[str]) -> list[str]:
    """The live tables in lock order (data tables first); none on a first run."""
    found = []
    for table in tables:
        row = cursor.execute(
            "SELECT to_regclass(%s) AS oid", (f"{READ_SCHEMA}.{table}",)
        ).fetchone()
        if row is not None and row["oid"] is not None:
            found.append(table)
    return found


def _decoded(
    app: Application[Any], batch: Sequence[Notification], skipped: frozenset[int]
) -> list[tuple[Any, int]]:
    return [(app.mapper.to_domain_event(note), note.id) for note in batch if note.id not in skipped]
