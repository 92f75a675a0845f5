"""Idempotency-Key on mutations (SPEC §3): a retried command runs once, and its first
answer is replayed with `Idempotent-Replayed: true`.

A pure ASGI middleware inside authentication (keys belong to the user who sent them): it
buffers the request body (already capped by the body limit) to fingerprint it, claims the
key, runs the request, and stores the response. A 5xx is not stored: the key is released,
so that a retry after a crash or an outage really runs again — unless the command committed.

Exactly once by construction: while the request runs, the claim (user, key, attempt) is in
`current_command_key`, and the event store marks the key committed in the command's own
transaction. A retry whose first attempt committed but never stored its answer (a crash, a
lost connection) does not run the command again: it is answered 200 with what the command
recorded (its position and aggregates), and `Idempotent-Replayed: true`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.command_keys import CommandKey, current_command_key
from infra.errors import ERROR_STATUS, error_response
from infra.tokens import Principal
from writeapi.idempotency_store import ClaimOutcome, Committed, IdempotencyStore, StoredResponse

logger = logging.getLogger(__name__)

# What to answer a retry of a request that committed something and then died, instead of the
# generic "committed" replay; None: the generic one. A paid AI request that died after its
# spend is refunded here (writeapi/routes/ai.py).
InterruptedAnswer = Callable[[Scope, Principal, Committed], Response | None]

IDEMPOTENCY_HEADER = "Idempotency-Key"
# A route sets `request.state.<this>` on an error answer that must be stored and replayed
# like a success: its command ran to a definite end (an AI request failed and was refunded),
# so a retry with the same key must not run it, and pay for it, again.
FINAL_ANSWER_STATE = "final_answer"
REPLAYED_HEADER = "Idempotent-Replayed"
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# 1-255 visible ASCII characters.
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
# How OpenAPI shows the header on every command that honours it.
IDEMPOTENCY_KEY_PARAMETER = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": _KEY_PATTERN.pattern},
    "description": (
        "Send the same key to retry safely: within 24 h the first answer is replayed with"
        " `Idempotent-Replayed: true`; the same key with another request is 422."
    ),
}
# Headers that belong to one exchange, not to the stored answer.
_NOT_REPLAYED = frozenset({"content-length", "x-request-id", "date", "server"})


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        store: IdempotencyStore,
        key_required: Callable[[str], bool] = lambda _path: False,
        interrupted: InterruptedAnswer | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.key_required = key_required
        self.interrupted = interrupted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING_METHODS:
            await self.app(scope, receive, send)
            return
        key = Headers(scope=scope).get(IDEMPOTENCY_HEADER)
        principal = scope.get("state", {}).get("principal")
        if key is None:
            if self.key_required(scope["path"]):
                await self._refuse(
                    scope,
                    send,
                    "IDEMPOTENCY_KEY_REQUIRED",
                    "this endpoint needs an Idempotency-Key",
                )
                return
            await self.app(scope, receive, send)
            return
        if not _KEY_PATTERN.match(key):
            await self._refuse(
                scope,
                send,
                "VALIDATION_ERROR",
                "Idempotency-Key must be 1-255 visible ASCII characters",
                details={"fields": [{"loc": ["header", IDEMPOTENCY_HEADER]}]},
            )
            return
        if not isinstance(principal, Principal):
            # Keys are scoped to a user; anonymous endpoints (sign-in) run as usual.
            await self.app(scope, receive, send)
            return
        await self._run_once(scope, receive, send, principal, key)

    async def _run_once(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal, key: str
    ) -> None:
        body = await _read_body(receive)
        fingerprint = _fingerprint(scope, body)
        claim = await run_in_threadpool(self.store.claim, principal.user_id, key, fingerprint)
        if claim.outcome is ClaimOutcome.REUSED:
            await self._refuse(
                scope, send, "IDEMPOTENCY_KEY_REUSED", "this key was used for another request"
            )
            return
        if claim.outcome is ClaimOutcome.IN_PROGRESS:
            await self._refuse(
                scope,
                send,
                "IDEMPOTENCY_IN_PROGRESS",
                "a request with this key is still running; retry shortly",
                headers={"Retry-After": "1"},
            )
            return
        if claim.outcome is ClaimOutcome.REPLAY:
            assert claim.response is not None
            await _replay(send, claim.response)
            return
        if claim.outcome is ClaimOutcome.COMMITTED:
            assert claim.committed is not None
            if self.interrupted is not None:
                answer = await run_in_threadpool(
                    self.interrupted, scope, principal, claim.committed
                )
                if answer is not None:
                    answer.headers[REPLAYED_HEADER] = "true"
                    await answer(scope, _nothing, send)
                    return
            await _replay(send, _recorded_answer(claim.committed))
            return
        assert claim.attempt is not None
        attempt = claim.attempt

        # The answer is held back until it is stored: a client that retries the moment it
        # has it must find it replayable, not "in progress".
        captured = _CapturedResponse()
        token = current_command_key.set(CommandKey(principal.user_id, key, attempt))
        try:
            async with self._lease_kept(principal.user_id, key, attempt):
                await self.app(scope, _replaying(body), captured.send)
        except BaseException:
            await run_in_threadpool(self.store.release, principal.user_id, key, attempt)
            raise
        finally:
            current_command_key.reset(token)
        final = bool(scope.get("state", {}).get(FINAL_ANSWER_STATE))
        if captured.status is not None and (captured.status < 500 or final):
            stored = captured.stored()
            await run_in_threadpool(self.store.complete, principal.user_id, key, attempt, stored)
        else:
            await run_in_threadpool(self.store.release, principal.user_id, key, attempt)
        await captured.forward(send)

    @asynccontextmanager
    async def _lease_kept(self, user_id: UUID, key: str, attempt: UUID) -> AsyncIterator[None]:
        """Keep the claim's lease fresh while the request runs: a slow command (an AI provider
        call takes seconds) is still running, not abandoned, and its retries must hear so."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.store.lease.total_seconds() / 3)
                try:
                    await run_in_threadpool(self.store.renew, user_id, key, attempt)
                except Exception:  # the database may be briefly away; the next round retries
                    logger.warning("could not renew an idempotency lease", exc_info=True)

        renewing = asyncio.create_task(renew())
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    @staticmethod
    async def _refuse(
        scope: Scope,
        send: Send,
        code: str,
        message: str,
        *,
        details: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        status = ERROR_STATUS[code]
        response = error_response(scope, status, code, message, details=details, headers=headers)
        await response(scope, _nothing, send)


class _CapturedResponse:
    """Keeps the response's messages, to store it before anything reaches the client."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()

    async def send(self, message: Message) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in message.get("headers", [])
            ]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    async def forward(self, send: Send) -> None:
        for message in self.messages:
            await send(message)

    def stored(self) -> StoredResponse:
        assert self.status is not None
        headers = [(n, v) for n, v in self.headers if n.lower() not in _NOT_REPLAYED]
        return StoredResponse(self.status, headers, bytes(self.body))


async def _replay(send: Send, response: StoredResponse) -> None:
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]
    headers.append((REPLAYED_HEADER.lower().encode(), b"true"))
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def _recorded_answer(committed: Committed) -> StoredResponse:
    """The answer to a key whose command committed but whose own answer was lost: what the
    command recorded, in the success envelope (`data.aggregates` with their new versions)."""
    latest: dict[str, dict[str, Any]] = {}
    for saved in committed.aggregates:
        latest[saved["id"]] = {
            "id": saved["id"],
            "type": saved["topic"].rpartition(":")[2].partition(".")[0],
            "version": saved["version"],
        }
    body = json.dumps(
        {
            "data": {"committed": True, "aggregates": list(latest.values())},
            "meta": {"position": committed.position},
        }
    ).encode()
    headers = [
        ("content-type", "application/json"),
        ("x-event-position", str(committed.position)),
    ]
    return StoredResponse(200, headers, body)


def _fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1")):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(_canonical(body))
    return digest.hexdigest()


def _canonical(body: bytes) -> bytes:
    """A JSON body as its meaning, not its spelling: a retry that serialises the same request
    with other spacing or key order is the same request."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    return json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()


async def _read_body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return bytes(body)


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
