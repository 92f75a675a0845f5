"""The composition root: settings in, apps and processes out. Nothing imports this module."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from commands.application import PerpetuaApplication
from commands.limits import Limits, TierLimits
from infra.database import (
    EVENTS_SCHEMA,
    READ_SCHEMA,
    DatabaseAddress,
    ensure_schemas,
    resolve_database,
    setup_lock,
)
from infra.keys import load_key_set
from infra.settings import Settings
from projections.activity import ActivityView, export_lines
from projections.base import ReadModelView, close_views, open_datastore
from projections.registry import PROJECTIONS, projection_names
from projectors.rebuild import RebuildReport, rebuild
from projectors.runner import ProjectionWorker, run_workers
from projectors.status import ProjectionStatus, projection_statuses
from projectors.verify import StoreReport, verify_store
from readapi.history import EventStoreReader, TaskHistory
from readapi.main import create_app as create_read_app
from writeapi.idempotency_store import IdempotencyStore
from writeapi.main import create_app as create_write_app

logger = logging.getLogger(__name__)

__all__ = [
    "build_read_api",
    "build_write_api",
    "prepare_database",
    "projection_names",
    "run_projectors",
]


def database_of(settings: Settings) -> DatabaseAddress:
    return resolve_database(settings.database_url, settings.embedded_pgdata_dir)


def limits_of(settings: Settings) -> Limits:
    return Limits(
        tiers={
            "free": TierLimits(
                active_tasks=settings.active_tasks_free,
                description_length=settings.description_length_free,
                subtasks_per_task=settings.subtasks_per_task_free,
                notes_per_task=settings.notes_per_task_free,
            ),
            "pro": TierLimits(
                active_tasks=None,
                description_length=settings.description_length_pro,
                subtasks_per_task=settings.subtasks_per_task_pro,
                notes_per_task=settings.notes_per_task_pro,
            ),
        },
        due_date_horizon=timedelta(days=settings.due_date_horizon_days),
        tombstone_window=timedelta(days=settings.tombstone_window_days),
    )


def build_application(settings: Settings, address: DatabaseAddress) -> PerpetuaApplication:
    """The write model on a prepared database (tables are `prepare_database`'s job)."""
    env = {**address.eventsourcing_env(), "CREATE_TABLE": "n"}
    return PerpetuaApplication(
        env=env,
        limits=limits_of(settings),
        refresh_token_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
    )


def build_views(
    address: DatabaseAddress, names: Sequence[str] = (), *, schema: str = READ_SCHEMA
) -> dict[str, ReadModelView]:
    """The named views (all by default), sharing one connection pool: a process needs a few
    connections for all its read models, not a few per read model."""
    datastore = open_datastore(address, schema)
    return {
        name: view_class(datastore)
        for name, (_, view_class) in PROJECTIONS.items()
        if not names or name in names
    }


def prepare_database(address: DatabaseAddress) -> None:
    """Create schemas and tables if missing. Idempotent; safe to run from every process."""
    ensure_schemas(address)
    with setup_lock(address):
        PerpetuaApplication(env=address.eventsourcing_env()).close()
        views = build_views(address)
        for view in views.values():
            view.create_table()
        close_views(views)
        with ConnectionPool(address.conninfo, min_size=1, max_size=1) as pool:
            IdempotencyStore(pool, schema=EVENTS_SCHEMA).create_table()


def build_idempotency_store(settings: Settings, address: DatabaseAddress) -> IdempotencyStore:
    pool = ConnectionPool(address.conninfo, min_size=1, max_size=4, open=True, name="idempotency")
    return IdempotencyStore(
        pool,
        schema=EVENTS_SCHEMA,
        retention=timedelta(hours=settings.idempotency_retention_hours),
    )


def build_write_api(settings: Settings) -> FastAPI:
    address = database_of(settings)
    prepare_database(address)
    key_set = load_key_set(settings, need_private=True)
    return create_write_app(
        settings,
        build_application(settings, address),
        key_set,
        idempotency=build_idempotency_store(settings, address),
    )


def build_read_api(settings: Settings) -> FastAPI:
    address = database_of(settings)
    prepare_database(address)
    views = build_views(address)
    reader = EventStoreReader(env=address.eventsourcing_env())

    def store_head() -> int:
        return reader.recorder.max_notification_id() or 0

    return create_read_app(
        settings,
        views=views,
        conninfo=address.conninfo,
        store_head=store_head,
        task_history=TaskHistory(reader),
        key_set=load_key_set(settings, need_private=False),
    )


def run_projectors(settings: Settings, names: Sequence[str], stop: threading.Event) -> None:
    """Run the named projections (all when `names` is empty) until `stop` is set."""
    unknown = sorted(set(names) - set(PROJECTIONS))
    if unknown:
        msg = f"unknown projections {unknown}; known: {projection_names()}"
        raise ValueError(msg)
    address = database_of(settings)
    prepare_database(address)
    application = build_application(settings, address)
    workers = [
        ProjectionWorker(application, PROJECTIONS[name][0](view))
        for name, view in build_views(address, names).items()
    ]
    try:
        run_workers(workers, stop)
    finally:
        application.close()
        close_views({worker.name: worker.projection.view for worker in workers})


def projection_status(settings: Settings) -> list[ProjectionStatus]:
    address = database_of(settings)
    prepare_database(address)
    application = build_application(settings, address)
    views = build_views(address)
    try:
        return projection_statuses(application, views, datetime.now(tz=UTC))
    finally:
        application.close()
        close_views(views)


def rebuild_projection(
    settings: Settings, name: str, on_progress: Callable[[int, int], None]
) -> RebuildReport:
    """Replay the store into fresh tables for `name` and swap them in (see projectors.rebuild)."""
    projection_class, view_class = PROJECTIONS[name]
    address = database_of(settings)
    prepare_database(address)
    application = build_application(settings, address)
    try:
        return rebuild(application, address, projection_class, view_class, on_progress=on_progress)
    finally:
        application.close()


def verify_event_store(settings: Settings) -> StoreReport:
    address = database_of(settings)
    prepare_database(address)
    application = build_application(settings, address)
    try:
        return verify_store(application)
    finally:
        application.close()


def audit_export(settings: Settings, user_id: UUID, format: str) -> Iterator[str]:
    """The user's activity log, oldest first, as JSON lines or CSV."""
    address = database_of(settings)
    prepare_database(address)
    view = build_views(address, ["activity"])["activity"]
    assert isinstance(view, ActivityView)
    try:
        yield from export_lines(view, user_id, format)
    finally:
        view.datastore.close()
