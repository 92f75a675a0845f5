"""Pure ASGI middlewares shared by both apps.

Pure ASGI rather than BaseHTTPMiddleware: no extra task per request, streaming responses
pass through untouched, and contextvars bound here are visible to the endpoint.
Order (outermost first) is set by infra.http.install_common.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.errors import (
    VALIDATION_FAILED_MESSAGE,
    error_response,
    http_exception_response,
    unhandled_error_response,
)
from infra.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS
from infra.request_context import current_request_id
from infra.text import FORBIDDEN_CHARACTER_MESSAGE, FORBIDDEN_CHARACTER_TYPE, forbidden_character
from infra.tokens import InvalidTokenError, Principal, TokenVerifier

log: structlog.stdlib.BoundLogger = structlog.get_logger("perpetua.http")
# The standard library logger under `log`: its level decides whether a line is written at all.
_access_log = logging.getLogger("perpetua.http")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

DEFAULT_PROTECTED_PREFIX = "/api/v1"
DEFAULT_PUBLIC_PREFIXES = ("/api/v1/auth/", "/api/v1/webhooks/")
DEFAULT_DOCS_PATHS = ("/docs", "/redoc")

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI and ReDoc (as FastAPI serves them) load from jsdelivr, run an inline bootstrap
# script, fetch /openapi.json and ReDoc spawns a blob: worker. Only these pages get it.
DOCS_CSP = (
    "default-src 'none'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_COMMON_SECURITY_HEADERS = (
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    # Responses are per-user; the read API sets its own Cache-Control where ETags apply.
    ("Cache-Control", "no-store"),
)
# Probes hit these every few seconds: count them, but keep them out of the INFO log.
_QUIET_PREFIXES = ("/health/", "/metrics")
# The longest query a client of ours sends (filters, a 512-byte cursor, a 200-character
# search, percent-encoded) is well under 2 KiB; 8 KiB is the request-line limit most proxies
# keep. The server itself refuses far longer ones before we see them (400, plain text).
MAX_QUERY_BYTES = 8 * 1024
# A query string without these (the usual `limit=50&cursor=...`) is printable ASCII as it
# stands: nothing in it to decode, so nothing to refuse.
_QUERY_NEEDS_DECODING = re.compile(rb"[^\x20-\x7e]|%")


def route_path(scope: Scope) -> str:
    """The path the router sees (without the root path a proxy mounted us under)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path


class EdgeMiddleware:
    """The outermost of ours, for every response: the request id (taken from the request if
    well-formed, bound to the log context, echoed), the security headers a response does not
    set itself, an app's own default headers, and one access-log line with the RED metrics.

    One layer rather than three: each pure-ASGI layer costs a coroutine and a send wrapper per
    request, which on a cached read is a good part of what the request costs.
    """

    def __init__(
        self,
        app: ASGIApp,
        service: str,
        docs_paths: Iterable[str] = DEFAULT_DOCS_PATHS,
        default_headers: Callable[[], Iterable[tuple[str, str]]] | None = None,
    ) -> None:
        self.app = app
        self.service = service
        self.docs_paths = tuple(docs_paths)
        # Headers (besides the security ones) a response gets unless it set them itself.
        self.default_headers = default_headers
        csp = "Content-Security-Policy"
        self._api_headers = _encoded((*_COMMON_SECURITY_HEADERS, (csp, API_CSP)))
        self._docs_headers = _encoded((*_COMMON_SECURITY_HEADERS, (csp, DOCS_CSP)))
        # The metric children by label values: `labels()` looks them up under a lock.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = well_formed_request_id(_header(scope, b"x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        security = self._docs_headers if self._is_docs(route_path(scope)) else self._api_headers
        id_header = (b"x-request-id", request_id.encode("latin-1"))
        status = 500  # what the client sees if the app dies before answering

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = self._headers_of(message, id_header, security)
            await send(message)

        token = current_request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            try:
                self._record(scope, status, time.perf_counter() - started)
            finally:
                current_request_id.reset(token)
                structlog.contextvars.clear_contextvars()

    def _headers_of(
        self,
        message: Message,
        id_header: tuple[bytes, bytes],
        security: tuple[tuple[bytes, bytes], ...],
    ) -> list[tuple[bytes, bytes]]:
        # The request id replaces any the app set; the others are only added where missing.
        headers = [
            (name, value)
            for name, value in message.get("headers", ())
            if name.lower() != b"x-request-id"
        ]
        present = {name.lower() for name, _ in headers}
        defaults = security
        if self.default_headers is not None:
            defaults = (*security, *_encoded(self.default_headers()))
        for name, value in defaults:
            if name not in present:
                headers.append((name, value))
                present.add(name)
        headers.append(id_header)
        return headers

    def _is_docs(self, path: str) -> bool:
        return any(path == docs or path.startswith(docs + "/") for docs in self.docs_paths)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method: str = scope["method"]
        route = route_template(scope)
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = HTTP_REQUESTS.labels(self.service, method, route, str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = HTTP_REQUEST_DURATION.labels(self.service, method, route)
            self._histograms[(method, route)] = histogram
        histogram.observe(seconds)

        if status >= 500:
            level = logging.ERROR
        elif route_path(scope).startswith(_QUIET_PREFIXES):
            level = logging.DEBUG
        else:
            level = logging.INFO
        if not _access_log.isEnabledFor(level):
            return  # what structlog's level filter would do, before building the line
        principal = scope.get("state", {}).get("principal")
        fields: dict[str, object] = {
            "service": self.service,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        if isinstance(principal, Principal):
            fields["user_id"] = str(principal.user_id)
        log.log(level, "http_request", **fields)


def _encoded(headers: Iterable[tuple[str, str]]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
    )


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower case), as Starlette's Headers would give it."""
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def well_formed_request_id(candidate: str | None) -> str:
    """The client's id if it is safe to log and echo, else a fresh one."""
    if candidate is not None and _REQUEST_ID_PATTERN.match(candidate):
        return candidate
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """`/api/v1/tasks/{task_id}` rather than the raw path: bounded label cardinality."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else "unmatched"


class PayloadTooLargeError(HTTPException):
    """Raised from `receive`, so the app's HTTPException handler renders the 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"Request body is larger than {limit} bytes")


class GuardMiddleware:
    """Inside the edge (and CORS): what a request must pass before the app sees it, and the
    last resort for what escapes the app. In order:

    * **catch-all**: an exception that escaped every handler becomes the 500 envelope (or the
      503 of a database that is gone). Starlette's own last-resort handler sits outside the
      user middlewares, so its 500 would lack the request id and security headers.
    * **authentication**: a valid bearer token under the API prefix, before the body is read,
      so an anonymous caller gets 401 even for a malformed body or a route that does not
      exist: nothing about the API is revealed to it.
    * **the query text**: a query string over MAX_QUERY_BYTES is 414; one that is not UTF-8 or
      holds text `infra.text` forbids is 422. One place for every parameter of every route of
      both apps: Starlette decodes a query string leniently (an invalid byte becomes U+FFFD)
      and a route checks only what its parameter declares, so a NUL in `?search=` would
      otherwise reach SQL. After authentication, so an anonymous caller still gets its 401.
    * **the body limit**: bodies over a limit, declared (Content-Length) or streamed, are 413.
      Not FastAPI's `max_body_size` at app level: that one answers a plain-text 413 from
      outside our middlewares, without request id, security headers or envelope. A route that
      takes uploads raises its own limit with FastAPI's route-level `max_body_size` (read here
      too; its 413s come from FastAPI's limiter, in plain text).

    One layer rather than four, for the same reason as EdgeMiddleware.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        max_bytes: int,
        upload_limit: Callable[[str], int | None] = lambda _path: None,
        protected_prefix: str = DEFAULT_PROTECTED_PREFIX,
        public_prefixes: Iterable[str] = DEFAULT_PUBLIC_PREFIXES,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.max_bytes = max_bytes
        # Upload paths, known by path alone: a middleware that reads the body before routing
        # (the Idempotency-Key fingerprint) must already apply the upload's own limit.
        self.upload_limit = upload_limit
        self.protected_prefix = protected_prefix.rstrip("/")
        self.public_prefixes = tuple(public_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            refusal = self._authenticate(scope) or _query_refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, tracking_send)
                return
            await self.app(scope, self._limited(scope, receive), tracking_send)
        except Exception as exc:
            if response_started:
                # Too late for a clean error: let the server abort the connection.
                raise
            if isinstance(exc, HTTPException):
                response = http_exception_response(scope, exc)
            else:
                response = unhandled_error_response(scope, exc)
            await response(scope, receive, send)

    def is_protected(self, path: str) -> bool:
        return requires_token(path, self.protected_prefix, self.public_prefixes)

    def _authenticate(self, scope: Scope) -> Response | None:
        """None once the principal is in the scope (or none is needed); else the 401."""
        if not self.is_protected(route_path(scope)):
            return None
        authorization = _header(scope, b"authorization")
        if not authorization:
            return _unauthenticated(scope, "UNAUTHENTICATED", "Authentication required")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _unauthenticated(scope, "INVALID_TOKEN", "Expected a Bearer token")
        try:
            principal = self.verifier.verify(token)
        except InvalidTokenError as exc:
            log.info("access_token_rejected", reason=str(exc))
            message = "Access token expired" if exc.expired else "Invalid access token"
            return _unauthenticated(scope, "INVALID_TOKEN", message)
        scope.setdefault("state", {})["principal"] = principal
        structlog.contextvars.bind_contextvars(user_id=str(principal.user_id))
        return None

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            # Looked up lazily: only after routing is the route's own limit known.
            limit = self._limit_for(scope)
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                raise PayloadTooLargeError(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLargeError(limit)
            return message

        return limited_receive

    def _limit_for(self, scope: Scope) -> int:
        route_limit = getattr(scope.get("route"), "max_body_size", None)
        if isinstance(route_limit, int):
            return route_limit
        upload_limit = self.upload_limit(scope["path"])
        return self.max_bytes if upload_limit is None else upload_limit


def _unauthenticated(scope: Scope, code: str, message: str) -> Response:
    # RFC 6750 section 3.1: no error code when no credentials were sent at all.
    challenge = "Bearer" if code == "UNAUTHENTICATED" else 'Bearer error="invalid_token"'
    return error_response(scope, 401, code, message, headers={"WWW-Authenticate": challenge})


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    return int(value) if value is not None and value.isdigit() else None


def _query_refusal(scope: Scope) -> Response | None:
    """The 414 or 422 for an unacceptable query string; None for an acceptable one."""
    query: bytes = scope.get("query_string", b"")
    if len(query) > MAX_QUERY_BYTES:
        return error_response(
            scope,
            414,
            "URI_TOO_LONG",
            f"Query string is longer than {MAX_QUERY_BYTES} bytes",
            details={"limit": MAX_QUERY_BYTES},
        )
    # Checked on every request: two cheap tests before any parsing.
    if query and _QUERY_NEEDS_DECODING.search(query):
        problem = query_text_problem(query)
        if problem is not None:
            return error_response(
                scope, 422, "VALIDATION_ERROR", VALIDATION_FAILED_MESSAGE, details=problem
            )
    return None


def query_text_problem(query: bytes) -> dict[str, list[dict[str, object]]] | None:
    """The validation `details` for the first unacceptable name or value; None if all pass.

    Split like Starlette does (`&`, then the first `=`, `+` for space), but decoded strictly.
    """
    for pair in query.split(b"&"):
        raw_name, _, raw_value = pair.partition(b"=")
        loc: list[str] = ["query"]  # a name we cannot read is not echoed back
        for raw in (raw_name, raw_value):
            try:
                text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return _query_field(loc, "Query parameters must be UTF-8", "unicode_decode")
            character = forbidden_character(text)
            if character is not None:
                message = f"Text {FORBIDDEN_CHARACTER_MESSAGE} (found {character})"
                return _query_field(loc, message, FORBIDDEN_CHARACTER_TYPE)
            if len(loc) == 1:
                loc.append(text)
    return None


def _query_field(
    loc: list[str], message: str, error_type: str
) -> dict[str, list[dict[str, object]]]:
    return {"fields": [{"loc": loc, "message": message, "type": error_type}]}


def requires_token(
    path: str,
    protected_prefix: str = DEFAULT_PROTECTED_PREFIX,
    public_prefixes: Iterable[str] = DEFAULT_PUBLIC_PREFIXES,
) -> bool:
    """Whether GuardMiddleware asks `path` for a bearer token."""
    prefix = protected_prefix.rstrip("/")
    if path != prefix and not path.startswith(prefix + "/"):
        return False
    return not path.startswith(tuple(public_prefixes))
