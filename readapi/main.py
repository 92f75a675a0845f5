"""The read API application: `create_app()` with its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI

from aggregates.errors import DomainError
from infra.database import EVENT_STORE_NAME
from infra.http import install_common
from infra.keys import KeySet
from infra.settings import Settings
from infra.tokens import TokenVerifier
from projections.base import ReadModelView, close_views
from projections.failures import ProjectionFailures
from projections.task_list import TaskListView
from readapi.consistency import ProjectionProgress
from readapi.deps import POSITION_HEADER
from readapi.health import ProjectionHealth
from readapi.history import TaskHistory
from readapi.page_cache import PageCache
from readapi.routes import (
    achievements,
    activity,
    credits,
    focus,
    notifications,
    recovery,
    subscription,
    sync,
    tasks,
    templates,
    users,
)
from readapi.task_pages import TaskPages

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings,
    *,
    views: Mapping[str, ReadModelView],
    conninfo: str,
    store_head: Callable[[], int],
    task_history: TaskHistory,
    key_set: KeySet,
) -> FastAPI:
    """`store_head` reads the newest position of the event store, for lag and readiness."""
    progress = ProjectionProgress(conninfo, lambda: read_positions(views))
    failures = ProjectionFailures(next(iter(views.values())).datastore)
    health = ProjectionHealth(
        progress,
        list(views),
        store_head,
        settings.projection_stale_seconds,
        failures=failures.all,
    )

    task_list = views["task_list"]
    assert isinstance(task_list, TaskListView)
    task_pages = TaskPages(task_list, conninfo)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await task_pages.open()
        await progress.start()
        health.start()
        yield
        await health.stop()
        await progress.stop()
        await task_pages.close()
        close_views(views)
        task_history.reader.close()

    app = FastAPI(
        title="Perpetua Flow — read API",
        version="1.0.0",
        description="Queries served from the projections; send X-Min-Position to read your writes.",
        lifespan=lifespan,
    )
    names = tuple(views)
    app.state.settings = settings
    app.state.views = dict(views)
    app.state.progress = progress
    app.state.task_history = task_history
    app.state.task_pages = task_pages
    app.state.page_cache = PageCache(settings.read_cache_size, settings.read_cache_max_age_seconds)

    install_common(
        app,
        settings,
        service="readapi",
        verifier=TokenVerifier(key_set, issuer=settings.jwt_issuer, audience=settings.jwt_audience),
        readiness=health.check,
        domain_error=DomainError,
        # Every read answer says how fresh it is: routes set the exact position their rows
        # reflect; any other answer (401, 404, 503 ...) gets the latest position known.
        default_headers=lambda: ((POSITION_HEADER, str(progress.position_of(names))),),
    )

    app.include_router(tasks.router, prefix=API_PREFIX)
    app.include_router(recovery.router, prefix=API_PREFIX)
    app.include_router(users.router, prefix=API_PREFIX)
    app.include_router(activity.router, prefix=API_PREFIX)
    app.include_router(sync.router, prefix=API_PREFIX)
    app.include_router(focus.router, prefix=API_PREFIX)
    app.include_router(credits.router, prefix=API_PREFIX)
    app.include_router(subscription.router, prefix=API_PREFIX)
    app.include_router(achievements.router, prefix=API_PREFIX)
    app.include_router(notifications.router, prefix=API_PREFIX)
    app.include_router(templates.router, prefix=API_PREFIX)
    return app


def read_positions(views: Mapping[str, ReadModelView]) -> dict[str, int]:
    positions = {}
    for name, view in views.items():
        try:
            positions[name] = view.max_tracking_id(EVENT_STORE_NAME) or 0
        except PersistenceError:
            positions[name] = 0  # its projector has not created its tables yet
    return positions
