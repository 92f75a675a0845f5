"""The write API application: `create_app()` with its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from aggregates.errors import DomainError
from commands.application import PerpetuaApplication
from infra.ai_providers import chat_provider, transcriber
from infra.google_identity import GoogleTokenVerifier
from infra.http import install_common
from infra.keys import KeySet
from infra.middleware import requires_token
from infra.openapi import document_answers
from infra.rate_limit import RateLimitMiddleware, RateRule, SlidingWindow, Window
from infra.rate_limit_store import RateLimitStore
from infra.settings import Settings
from infra.tokens import TokenIssuer, TokenVerifier
from writeapi.idempotency import (
    IDEMPOTENCY_KEY_PARAMETER,
    MUTATING_METHODS,
    IdempotencyMiddleware,
)
from writeapi.idempotency_store import IdempotencyStore
from writeapi.routes import (
    ai,
    auth,
    focus,
    notes,
    notifications,
    recovery,
    reminders,
    subtasks,
    tasks,
    templates,
    users,
    webhooks,
)

API_PREFIX = "/api/v1"
AI_PREFIX = f"{API_PREFIX}/ai/"
TASKS_PREFIX = f"{API_PREFIX}/tasks/"
VOICE_NOTE_SUFFIX = "/notes/voice"
UPLOAD_PATHS_SUFFIXES = ("/ai/transcribe", VOICE_NOTE_SUFFIX)
# Expired keys are overwritten when reused anyway; this only keeps the table small.
KEY_CLEANUP_INTERVAL_SECONDS = 3600

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    application: PerpetuaApplication,
    key_set: KeySet,
    *,
    idempotency: IdempotencyStore | None = None,
    rate_limits: RateLimitStore | None = None,
) -> FastAPI:
    """Without an `idempotency` store (in-memory unit tests) Idempotency-Key is not honoured;
    without a `rate_limits` store the limits hold per process only."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            if idempotency is None:
                yield
            else:
                async with _kept_tidy(idempotency):
                    yield
        finally:
            application.close()

    app = FastAPI(
        title="Perpetua Flow — write API",
        version="1.0.0",
        description="Commands: each appends events and answers with their store position.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.application = application
    app.state.key_set = key_set
    app.state.google = (
        GoogleTokenVerifier(settings.google_client_ids, settings.google_certs_url)
        if settings.google_client_ids
        else None
    )
    app.state.chat_provider = chat_provider(settings)
    app.state.transcriber = transcriber(settings)
    app.state.token_issuer = TokenIssuer(
        key_set,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    verifier = TokenVerifier(key_set, issuer=settings.jwt_issuer, audience=settings.jwt_audience)

    async def readiness() -> dict[str, Any]:
        try:
            head = await run_in_threadpool(application.recorder.max_notification_id)
        except Exception as error:  # any database failure means "not ready"
            return {"ready": False, "database": f"unreachable: {type(error).__name__}"}
        return {"ready": True, "database": "ok", "event_store_head": head or 0}

    # Added before install_common, so they run inside authentication (keys are per user) and
    # their refusals still carry the request id and security headers.
    if idempotency is not None:
        app.add_middleware(
            IdempotencyMiddleware,
            store=idempotency,
            key_required=is_paid_ai,
            interrupted=lambda scope, principal, committed: (
                ai.answer_interrupted(application, scope, principal, committed)
                if is_paid_ai(scope["path"])
                else None
            ),
        )
        # It reads the body of every command that carries a key, body-less ones included.
        document_answers(
            app,
            "IDEMPOTENCY_IN_PROGRESS",
            "IDEMPOTENCY_KEY_REUSED",
            "PAYLOAD_TOO_LARGE",
            where=lambda path, method, _: method in MUTATING_METHODS and requires_token(path),
            parameters=[IDEMPOTENCY_KEY_PARAMETER],
        )
        document_answers(app, "IDEMPOTENCY_KEY_REQUIRED", where=lambda path, *_: is_paid_ai(path))

    def window(bucket: str, limit: int) -> Window:
        if rate_limits is None:
            return SlidingWindow(limit=limit, window=60.0)
        return rate_limits.window(bucket, limit=limit, window=60.0)

    rate_rules = [
        RateRule(f"{API_PREFIX}/auth/", window("auth", settings.auth_requests_per_minute)),
        RateRule(
            f"{API_PREFIX}/webhooks/", window("webhooks", settings.billing_requests_per_minute)
        ),
    ]
    # One window per user for every paid AI request, voice notes included.
    ai_window = window("ai", settings.ai_requests_per_minute)
    ai_rules = [
        RateRule(AI_PREFIX, ai_window, per_user=True),
        RateRule(TASKS_PREFIX, ai_window, per_user=True, suffix=VOICE_NOTE_SUFFIX),
    ]
    app.add_middleware(
        RateLimitMiddleware, rules=rate_rules + ai_rules, trusted_proxies=settings.trusted_proxies
    )
    limited = tuple(rule.prefix for rule in rate_rules)
    document_answers(
        app,
        "RATE_LIMITED",
        where=lambda path, *_: path.startswith(limited) or is_paid_ai(path),
    )
    install_common(
        app,
        settings,
        service="writeapi",
        verifier=verifier,
        readiness=readiness,
        domain_error=DomainError,
        upload_limit=lambda path: settings.max_audio_bytes if is_upload(path) else None,
    )
    app.include_router(auth.jwks_router)
    app.include_router(auth.router, prefix=API_PREFIX)
    app.include_router(tasks.router, prefix=API_PREFIX)
    app.include_router(subtasks.router, prefix=API_PREFIX)
    app.include_router(notes.router, prefix=API_PREFIX)
    app.include_router(reminders.router, prefix=API_PREFIX)
    app.include_router(templates.router, prefix=API_PREFIX)
    app.include_router(focus.router, prefix=API_PREFIX)
    app.include_router(recovery.router, prefix=API_PREFIX)
    app.include_router(users.router, prefix=API_PREFIX)
    app.include_router(notifications.router, prefix=API_PREFIX)
    app.include_router(webhooks.router, prefix=API_PREFIX)
    app.include_router(ai.router, prefix=API_PREFIX)
    if settings.is_dev:
        app.include_router(auth.dev_router, prefix=API_PREFIX)
    return app


def is_paid_ai(path: str) -> bool:
    """The paths of paid AI requests: they need an Idempotency-Key and share a rate limit."""
    return path.startswith(AI_PREFIX) or (
        path.startswith(TASKS_PREFIX) and path.endswith(VOICE_NOTE_SUFFIX)
    )


def is_upload(path: str) -> bool:
    return path.startswith(API_PREFIX) and path.endswith(UPLOAD_PATHS_SUFFIXES)


@asynccontextmanager
async def _kept_tidy(store: IdempotencyStore) -> AsyncIterator[None]:
    """Forget expired keys now and then while the app runs; close the store after."""

    async def forget_expired_keys() -> None:
        while True:
            try:
                await run_in_threadpool(store.forget_expired)
            except Exception:  # the database may be briefly away; try again next round
                logger.warning("could not forget expired idempotency keys", exc_info=True)
            await asyncio.sleep(KEY_CLEANUP_INTERVAL_SECONDS)

    task = asyncio.create_task(forget_expired_keys())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        store.pool.close()
