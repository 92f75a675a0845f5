"""Error codes, the one code -> HTTP status table, and the handlers that render the envelope.

Every 4xx/5xx of both apps is `{"error": {"code", "message", "details", "request_id"}}`.
Domain errors carry only a `code`; the status they map to lives here, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import eventsourcing.persistence
import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from infra.command_keys import CommandKeyLostError
from infra.envelope import ErrorEnvelope

log: structlog.stdlib.BoundLogger = structlog.get_logger(__name__)

ERROR_STATUS: dict[str, int] = {
    # Generic HTTP-level errors (also what starlette's own HTTPExceptions become).
    "BAD_REQUEST": 400,
    "VALIDATION_ERROR": 422,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "NOT_ACCEPTABLE": 406,
    "CONFLICT": 409,
    "GONE": 410,
    "PAYLOAD_TOO_LARGE": 413,
    "URI_TOO_LONG": 414,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
    "DATABASE_UNAVAILABLE": 503,
    # Identity and tokens.
    "INVALID_TOKEN": 401,
    "REFRESH_TOKEN_REUSED": 401,
    "INVALID_SIGNATURE": 401,
    "AUTH_NOT_CONFIGURED": 503,
    # Tasks and their parts.
    "TASK_NOT_FOUND": 404,
    "VERSION_CONFLICT": 409,
    "TASK_ARCHIVED": 409,
    "TASK_LIMIT_EXCEEDED": 409,
    "SUBTASKS_INCOMPLETE": 409,
    "TASK_ALREADY_COMPLETED": 409,
    "TASK_NOT_COMPLETED": 409,
    "SUBTASK_LIMIT_EXCEEDED": 409,
    "NOTE_LIMIT_EXCEEDED": 409,
    "REMINDER_LIMIT_EXCEEDED": 409,
    "REMINDER_ALREADY_FIRED": 409,
    "FOCUS_ALREADY_ACTIVE": 409,
    "FOCUS_NOT_ACTIVE": 409,
    "DESCRIPTION_TOO_LONG": 422,
    "DUE_DATE_TOO_FAR": 422,
    "TOMBSTONE_EXPIRED": 410,
    # Recurring templates.
    "TEMPLATE_NOT_FOUND": 404,
    # Read side.
    "PROJECTION_LAGGING": 503,
    # Idempotency.
    "IDEMPOTENCY_KEY_REQUIRED": 400,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "IDEMPOTENCY_IN_PROGRESS": 409,
    # Credits, tiers, billing.
    "INSUFFICIENT_CREDITS": 402,
    "PRO_REQUIRED": 403,
    "BILLING_NOT_CONFIGURED": 503,
    # AI.
    "AI_CONVERSATION_LIMIT": 429,
    "AI_NOT_CONFIGURED": 503,
    # 502; a provider that did not answer in time is the same code with 504 (SPEC section 7).
    "AI_PROVIDER_ERROR": 502,
    "CONVERSATION_NOT_FOUND": 404,
    "AUDIO_TOO_LONG": 422,
}

# What starlette/FastAPI HTTPExceptions (router 404/405, body limit 413, ...) become.
_HTTP_STATUS_CODE: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    410: "GONE",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}

INTERNAL_ERROR_MESSAGE = "An internal error occurred. Quote the request id when reporting it."
MALFORMED_JSON_MESSAGE = "Malformed JSON body"
VALIDATION_FAILED_MESSAGE = "Request validation failed"


class ApiError(Exception):
    """An error raised by HTTP-layer code (routes, dependencies) with an explicit code."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        if status is None:
            if code not in ERROR_STATUS:
                # A typo in a code is a bug: fail where it is raised, not with a silent 500.
                msg = f"unknown error code {code!r}; add it to infra.errors.ERROR_STATUS"
                raise ValueError(msg)
            status = ERROR_STATUS[code]
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.headers: dict[str, str] = headers or {}
        self.status = status


def request_id_of(scope: Scope) -> str:
    """The request id the middleware put in the scope (one is made if it did not run)."""
    state = scope.setdefault("state", {})
    request_id = state.get("request_id")
    if not isinstance(request_id, str):
        request_id = uuid.uuid4().hex
        state["request_id"] = request_id
    return request_id


def error_response(
    scope: Scope,
    status: int,
    code: str,
    message: str,
    *,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render the error envelope; the one place its shape is built."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": dict(details or {}),
            "request_id": request_id_of(scope),
        }
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def http_exception_response(scope: Scope, exc: StarletteHTTPException) -> Response:
    """Starlette's own errors (no route, wrong method, body too large, ...) in our envelope."""
    status = exc.status_code
    if status in (204, 304) or status < 400:
        # Bodiless statuses must stay bodiless.
        return Response(status_code=status, headers=exc.headers)
    code = _HTTP_STATUS_CODE.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else _phrase(status)
    return error_response(scope, status, code, message, headers=exc.headers)


# What an unreachable or restarting database raises, through the library or directly.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    PoolTimeout,
    eventsourcing.persistence.OperationalError,
    eventsourcing.persistence.InterfaceError,
)
DATABASE_RETRY_AFTER_SECONDS = 2


def unhandled_error_response(scope: Scope, exc: BaseException) -> Response:
    """Log the traceback for operators; tell the client nothing about the internals.

    A database that cannot be reached is not a bug: 503 with Retry-After says "try again"."""
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        log.warning(
            "database_unavailable",
            error=type(exc).__name__,
            method=scope.get("method"),
            path=scope.get("path"),
        )
        return error_response(
            scope,
            ERROR_STATUS["SERVICE_UNAVAILABLE"],
            "SERVICE_UNAVAILABLE",
            "the database is unavailable; retry shortly (with the same Idempotency-Key)",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    log.error(
        "unhandled_exception",
        exc_info=exc,
        method=scope.get("method"),
        path=scope.get("path"),
    )
    return error_response(scope, 500, "INTERNAL_ERROR", INTERNAL_ERROR_MESSAGE)


def validation_details(exc: RequestValidationError) -> tuple[str, dict[str, Any]]:
    """(message, details) for a 422; the offending input is deliberately not echoed back."""
    fields: list[dict[str, Any]] = []
    malformed_json = False
    for error in exc.errors():
        error_type = str(error.get("type", ""))
        malformed_json = malformed_json or error_type == "json_invalid"
        fields.append(
            {
                "loc": list(error.get("loc", ())),
                "message": str(error.get("msg", "")),
                "type": error_type,
            }
        )
    message = MALFORMED_JSON_MESSAGE if malformed_json else VALIDATION_FAILED_MESSAGE
    return message, {"fields": fields}


def install_error_handlers(app: FastAPI, domain_error: type[Exception]) -> None:
    """Map every kind of failure to the envelope, in one place."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(
            request.scope,
            exc.status,
            exc.code,
            exc.message,
            details=exc.details,
            headers=exc.headers,
        )

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "code", None)
        if not isinstance(code, str) or code not in ERROR_STATUS:
            # The domain raised a code nobody mapped: a bug, so treat it like one.
            return unhandled_error_response(request.scope, exc)
        details = getattr(exc, "details", None)
        headers = getattr(exc, "headers", None)
        return error_response(
            request.scope,
            ERROR_STATUS[code],
            code,
            str(exc) or _phrase(ERROR_STATUS[code]),
            details=details if isinstance(details, Mapping) else None,
            headers=headers if isinstance(headers, Mapping) else None,
        )

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message, details = validation_details(exc)
        return error_response(request.scope, 422, "VALIDATION_ERROR", message, details=details)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return http_exception_response(request.scope, exc)

    async def on_key_lost(request: Request, exc: Exception) -> Response:
        # A newer attempt with the same Idempotency-Key holds it; this one recorded nothing.
        return error_response(
            request.scope,
            ERROR_STATUS["IDEMPOTENCY_IN_PROGRESS"],
            "IDEMPOTENCY_IN_PROGRESS",
            str(exc),
            headers={"Retry-After": "1"},
        )

    async def on_unhandled(request: Request, exc: Exception) -> Response:
        return unhandled_error_response(request.scope, exc)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(domain_error, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(CommandKeyLostError, on_key_lost)
    # Starlette runs this one outside the user middlewares; install_common also adds a
    # middleware that catches first, so the 500 still gets request id and security headers.
    app.add_exception_handler(Exception, on_unhandled)


def error_responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: one entry per status, listing its codes, envelope schema."""
    return {
        status: {"model": ErrorEnvelope, **error_response_doc(status, status_codes)}
        for status, status_codes in codes_by_status(codes).items()
    }


def codes_by_status(codes: Iterable[str]) -> dict[int, list[str]]:
    """The codes grouped by their status, statuses in order; unknown codes are refused."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        if code not in ERROR_STATUS:
            msg = f"unknown error code {code!r}; add it to infra.errors.ERROR_STATUS"
            raise ValueError(msg)
        listed = by_status.setdefault(ERROR_STATUS[code], [])
        if code not in listed:
            listed.append(code)
    return dict(sorted(by_status.items()))


def error_response_doc(status: int, codes: Sequence[str]) -> dict[str, Any]:
    """The OpenAPI description and examples of one error status (its schema is the envelope)."""
    listed = ", ".join(f"`{code}`" for code in codes)
    return {
        "description": f"{_phrase(status)}. Error codes: {listed}.",
        "content": {
            "application/json": {
                "examples": {
                    code: {
                        "summary": code,
                        "value": {
                            "error": {
                                "code": code,
                                "message": "...",
                                "details": {},
                                "request_id": "0123456789abcdef0123456789abcdef",
                            }
                        },
                    }
                    for code in codes
                }
            }
        },
    }


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
