"""The composition root: settings in, apps and processes out. Nothing imports this module."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from psycopg_pool import ConnectionPool

from commands.base import utc_now
from commands.limits import AiAmounts, CreditAmounts, Limits, TierLimits
from commands.store import StoreApplication
from infra.database import (
    CONNECT_TIMEOUT_SECONDS,
    EVENTS_SCHEMA,
    READ_SCHEMA,
    DatabaseAddress,
    ensure_schemas,
    resolve_database,
    setup_lock,
)
from infra.metrics import serve_metrics
from infra.rate_limit_store import RateLimitStore
from infra.settings import Settings
from projections.activity import ActivityView, export_lines
from projections.base import ReadModelView, close_views, open_datastore
from projections.failures import ProjectionFailures, ProjectionSkip
from projections.registry import PROJECTIONS, projection_names
from projections.task_list import TaskListView
from projections.templates import TemplatesView
from projectors.rebuild import RebuildReport, rebuild_together
from projectors.runner import ProjectionWorker, run_workers
from projectors.scheduler import Scheduler
from projectors.status import ProjectionStatus, projection_statuses
from projectors.verify import StoreReport, verify_store
from writeapi.idempotency_store import IdempotencyStore

if TYPE_CHECKING:
    from fastapi import FastAPI

    from commands.application import PerpetuaApplication

# The web apps' modules (FastAPI, the routes, the AI SDKs: ~60 MB and ~1 s) are imported by
# the functions that build the apps, not here: the CLI's tools (a rebuild, a status) and the
# projector and scheduler processes need none of them.

logger = logging.getLogger(__name__)

# Aggregates the write API keeps warm: a command loads its task and the user's subscription
# and achievements (for the limits); a few thousand cover the active users of a process.
WRITE_API_AGGREGATE_CACHE = 2000
# The write API's own statements (a key's claim and answer) take well under a millisecond
# each once they need not wait for the disk: a few connections serve many requests.
WRITE_API_POOL_SIZE = 4

__all__ = [
    "build_read_api",
    "build_write_api",
    "prepare_database",
    "projection_names",
    "run_projectors",
    "run_scheduler",
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
                reminders_per_task=settings.reminders_per_task_free,
                daily_credits=settings.daily_credits_free,
            ),
            "pro": TierLimits(
                active_tasks=None,
                description_length=settings.description_length_pro,
                subtasks_per_task=settings.subtasks_per_task_pro,
                notes_per_task=settings.notes_per_task_pro,
                reminders_per_task=settings.reminders_per_task_pro,
                daily_credits=settings.daily_credits_pro,
            ),
        },
        due_date_horizon=timedelta(days=settings.due_date_horizon_days),
        tombstone_window=timedelta(days=settings.tombstone_window_days),
        credits=CreditAmounts(
            kickstart=settings.kickstart_credits,
            subscription_per_period=settings.subscription_credits,
            carry_over_cap=settings.subscription_carry_over_cap,
            low_balance=settings.low_credits_threshold,
        ),
        ai=AiAmounts(
            chat_cost=settings.ai_chat_cost,
            subtasks_cost=settings.ai_subtasks_cost,
            transcription_cost_per_minute=settings.ai_transcription_cost_per_minute,
            turns_per_conversation=settings.ai_turns_per_conversation,
            max_audio_seconds=settings.max_audio_seconds,
        ),
    )


def build_application(
    settings: Settings,
    address: DatabaseAddress,
    *,
    subscriptions: int = 0,
    aggregate_cache: int = 0,
    clock: Callable[[], datetime] = utc_now,
) -> PerpetuaApplication:
    """The write model on a prepared database (tables are `prepare_database`'s job).

    `subscriptions`: how many projections follow the store through it. Each holds a pooled
    connection for LISTEN as long as it runs, so the pool may grow by as many; otherwise the
    listeners alone could fill it and leave the reads of new events waiting.

    `aggregate_cache`: how many aggregates the library keeps in memory. A cached aggregate is
    brought up to date by reading only the events after its version (fast-forward), one query
    instead of a snapshot read and an events read, and correct whichever process wrote them.
    """
    # Imported by the processes that run commands only (see build_store).
    from commands.application import PerpetuaApplication

    env = _store_env(address, subscriptions)
    if aggregate_cache:
        env["AGGREGATE_CACHE_MAXSIZE"] = str(aggregate_cache)
    return PerpetuaApplication(
        env=env,
        limits=limits_of(settings),
        clock=clock,
        refresh_token_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
    )


def build_store(address: DatabaseAddress, *, subscriptions: int = 0) -> StoreApplication:
    """The store without the write model's commands, on a prepared database: for a process
    that only reads it (a rebuild, the projectors, an operator's checks), which then starts
    without importing the command handlers and what they bring (decision 101).
    `subscriptions`: see `build_application`."""
    return StoreApplication(env=_store_env(address, subscriptions))


def _store_env(address: DatabaseAddress, subscriptions: int) -> dict[str, str]:
    env = {**address.eventsourcing_env(), "CREATE_TABLE": "n"}
    if subscriptions:
        env["POSTGRES_MAX_OVERFLOW"] = str(int(env["POSTGRES_MAX_OVERFLOW"]) + subscriptions)
    return env


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


def failures_beside(views: Mapping[str, ReadModelView]) -> ProjectionFailures:
    """The failures table in the views' schema, on their shared pool (see build_views)."""
    return ProjectionFailures(next(iter(views.values())).datastore)


def prepare_database(address: DatabaseAddress) -> None:
    """Create schemas and tables if missing. Idempotent; safe to run from every process."""
    ensure_schemas(address)
    with setup_lock(address):
        StoreApplication(env=address.eventsourcing_env()).close()
        views = build_views(address)
        for view in views.values():
            view.create_table()
        failures_beside(views).create_table()
        close_views(views)
        with ConnectionPool(address.conninfo, min_size=1, max_size=1) as pool:
            IdempotencyStore(pool, schema=EVENTS_SCHEMA).create_table()
            RateLimitStore(pool, schema=EVENTS_SCHEMA).create_table()


def build_write_api(settings: Settings) -> FastAPI:
    from infra.keys import load_key_set
    from writeapi.main import create_app as create_write_app

    address = database_of(settings)
    prepare_database(address)
    key_set = load_key_set(settings, need_private=True)
    # One small pool for the write API's own tables (idempotency keys, rate-limit hits);
    # the idempotency store closes it when the app stops. Its commits do not wait for the
    # disk (decision 63): what makes a command exactly once is committed with its events.
    pool = ConnectionPool(
        address.conninfo,
        min_size=1,
        max_size=WRITE_API_POOL_SIZE,
        open=True,
        name="write-api",
        timeout=CONNECT_TIMEOUT_SECONDS,
        kwargs={"options": "-c synchronous_commit=off"},
    )
    return create_write_app(
        settings,
        build_application(settings, address, aggregate_cache=WRITE_API_AGGREGATE_CACHE),
        key_set,
        idempotency=IdempotencyStore(
            pool,
            schema=EVENTS_SCHEMA,
            retention=timedelta(hours=settings.idempotency_retention_hours),
        ),
        rate_limits=RateLimitStore(pool, schema=EVENTS_SCHEMA),
    )


def build_read_api(settings: Settings) -> FastAPI:
    from infra.keys import load_key_set
    from readapi.history import EventStoreReader, TaskHistory
    from readapi.main import create_app as create_read_app

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
    views = build_views(address, names)
    application = build_store(address, subscriptions=len(views))
    workers = [
        ProjectionWorker(application, PROJECTIONS[name][0](view)) for name, view in views.items()
    ]
    try:
        run_workers(workers, stop)
    finally:
        application.close()
        close_views({worker.name: worker.projection.view for worker in workers})


def build_scheduler(application: PerpetuaApplication, views: dict[str, ReadModelView]) -> Scheduler:
    """The scheduler on the write model, finding its work in the task list and templates."""
    tasks, templates = views["task_list"], views["templates"]
    assert isinstance(tasks, TaskListView)
    assert isinstance(templates, TemplatesView)
    return Scheduler(
        application,
        due_reminders=tasks.due_reminders,
        due_templates=templates.due_templates,
        clock=application.clock,
    )


def run_scheduler(settings: Settings, stop: threading.Event) -> None:
    """Fire reminders and make template instances until `stop` is set."""
    address = database_of(settings)
    prepare_database(address)
    application = build_application(settings, address)
    views = build_views(address, ["task_list", "templates"])
    stop_metrics = None
    if settings.scheduler_metrics_port:
        stop_metrics = serve_metrics(
            settings.scheduler_metrics_host, settings.scheduler_metrics_port
        )
    try:
        build_scheduler(application, views).run(stop, settings.scheduler_tick_seconds)
    finally:
        if stop_metrics is not None:
            stop_metrics()
        application.close()
        close_views(views)


def projection_status(settings: Settings) -> list[ProjectionStatus]:
    address = database_of(settings)
    prepare_database(address)
    application = build_store(address)
    views = build_views(address)
    try:
        failures = failures_beside(views).all()
        return projection_statuses(application, views, failures, datetime.now(tz=UTC))
    finally:
        application.close()
        close_views(views)


def skip_event(
    settings: Settings, name: str, position: int, *, reason: str, by: str
) -> ProjectionSkip | None:
    """Record that projection `name` skips the event at `position`; None if there is none."""
    address = database_of(settings)
    prepare_database(address)
    application = build_store(address)
    views = build_views(address, [name])
    try:
        found = application.recorder.select_notifications(start=position, limit=1)
        if not found or found[0].id != position:
            return None
        event_type = found[0].topic.rpartition(":")[2]
        failures = failures_beside(views)
        failures.skip(name, position, event_type, reason=reason, by=by)
        return next(s for s in failures.skips() if (s.projection, s.position) == (name, position))
    finally:
        application.close()
        close_views(views)


def rebuild_projections(
    settings: Settings, names: Sequence[str], on_progress: Callable[[int, int], None]
) -> list[RebuildReport]:
    """Replay the store once into fresh tables for all `names` and swap each in
    (see projectors.rebuild)."""
    address = database_of(settings)
    prepare_database(address)
    application = build_store(address)
    try:
        return rebuild_together(
            application, address, [PROJECTIONS[name] for name in names], on_progress=on_progress
        )
    finally:
        application.close()


def verify_event_store(settings: Settings) -> StoreReport:
    address = database_of(settings)
    prepare_database(address)
    application = build_store(address)
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
