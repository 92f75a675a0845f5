"""Wiring shared by the write and the read app: handlers, middlewares, root routes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from infra.errors import install_error_handlers
from infra.metrics import metrics_response
from infra.middleware import (
    DEFAULT_PUBLIC_PREFIXES,
    REQUEST_ID_HEADER,
    EdgeMiddleware,
    GuardMiddleware,
    requires_token,
)
from infra.openapi import document_answers, takes_a_body
from infra.settings import Settings
from infra.tokens import TokenVerifier

log: structlog.stdlib.BoundLogger = structlog.get_logger(__name__)

Readiness = Callable[[], Awaitable[dict[str, Any]]]

# A probe that hangs is worse than one that fails: the orchestrator needs an answer.
READINESS_TIMEOUT_SECONDS = 5.0

CORS_EXPOSED_HEADERS = [
    REQUEST_ID_HEADER,
    "X-Event-Position",
    "X-Projection-Position",
    "ETag",
    "Retry-After",
    "Idempotent-Replayed",
]
CORS_ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-None-Match",
    "X-Min-Position",
    REQUEST_ID_HEADER,
]
CORS_ALLOWED_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"]


def install_common(
    app: FastAPI,
    settings: Settings,
    *,
    service: str,
    verifier: TokenVerifier,
    readiness: Readiness,
    domain_error: type[Exception],
    public_prefixes: Iterable[str] = DEFAULT_PUBLIC_PREFIXES,
    upload_limit: Callable[[str], int | None] = lambda _path: None,
    default_headers: Callable[[], Iterable[tuple[str, str]]] | None = None,
) -> None:
    """Everything both apps share; call once from create_app, before the app starts.

    `upload_limit` names the paths that take uploads and their larger body limit;
    `default_headers` gives headers every response carries unless it set them itself."""
    install_error_handlers(app, domain_error)

    # add_middleware wraps the app built so far, so this list runs innermost first. The guard
    # (catch-all, authentication, query text, body limit) sits inside CORS and the edge, so
    # its 401s and 500s carry the request id, the security headers and CORS headers; the
    # edge (request id, security headers, access log) is the outermost of ours.
    app.add_middleware(
        GuardMiddleware,
        verifier=verifier,
        max_bytes=settings.max_request_body_bytes,
        upload_limit=upload_limit,
        public_prefixes=tuple(public_prefixes),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_ALLOWED_METHODS,
            allow_headers=CORS_ALLOWED_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            # Bearer tokens travel in a header, never in cookies.
            allow_credentials=False,
            max_age=600,
        )
    docs_paths = [p for p in (app.docs_url, app.redoc_url) if p]
    app.add_middleware(
        EdgeMiddleware, service=service, docs_paths=docs_paths, default_headers=default_headers
    )

    _add_root_routes(app, readiness)

    # What those middlewares answer, on every operation they stand in front of.
    public = tuple(public_prefixes)
    document_answers(app, "VALIDATION_ERROR", "URI_TOO_LONG")  # the query check, any parameter
    document_answers(app, "BAD_REQUEST", "PAYLOAD_TOO_LARGE", where=takes_a_body)
    document_answers(
        app,
        "UNAUTHENTICATED",
        "INVALID_TOKEN",
        where=lambda path, _method, _operation: requires_token(path, public_prefixes=public),
    )


def _add_root_routes(app: FastAPI, readiness: Readiness) -> None:
    async def live() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def ready() -> JSONResponse:
        try:
            result = await asyncio.wait_for(readiness(), timeout=READINESS_TIMEOUT_SECONDS)
        except TimeoutError:
            result = {"ready": False, "error": "readiness check timed out"}
        except Exception as exc:
            # The exception text may hold a DSN or host name: log it, answer its type only.
            log.warning("readiness_check_failed", exc_info=exc)
            result = {"ready": False, "error": type(exc).__name__}
        if not isinstance(result, dict):
            result = {"ready": False, "error": "readiness check returned no report"}
        is_ready = result.get("ready") is True
        return JSONResponse({**result, "ready": is_ready}, status_code=200 if is_ready else 503)

    async def metrics() -> Response:
        return metrics_response()

    # Outside /api/v1 (no auth) and outside the schema: they are for operators, not clients.
    app.add_api_route("/health/live", live, methods=["GET"], include_in_schema=False)
    app.add_api_route("/health/ready", ready, methods=["GET"], include_in_schema=False)
    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
