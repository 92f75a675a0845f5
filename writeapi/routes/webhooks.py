"""Webhooks from outside services: billing. Authenticated by signature, not by a bearer token."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from commands.messages import ApplyBillingEvent
from infra.envelope import Envelope
from infra.errors import ApiError, error_responses
from infra.settings import Settings
from writeapi.deps import ApplicationDep
from writeapi.responses import with_position
from writeapi.schemas import BillingEventBody, BillingEventOut

SIGNATURE_HEADER = "X-Perpetua-Signature"
SIGNATURE_PREFIX = "sha256="

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The body's JSON schema with its `$defs` inlined, for the OpenAPI document."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


@router.post(
    "/billing",
    response_model=Envelope[BillingEventOut],
    responses=error_responses(
        "INVALID_SIGNATURE", "VALIDATION_ERROR", "RATE_LIMITED", "BILLING_NOT_CONFIGURED"
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline_refs(BillingEventBody.model_json_schema())}
            },
        },
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
                "description": "sha256=<hex HMAC-SHA256 of the raw body with the shared secret>",
            }
        ],
    },
)
async def billing_webhook(
    request: Request, application: ApplicationDep, response: Response
) -> Envelope[BillingEventOut]:
    """Apply a signed billing event once (a replay of the same event id changes nothing)."""
    settings: Settings = request.app.state.settings
    if settings.billing_webhook_secret is None:
        raise ApiError("BILLING_NOT_CONFIGURED", "billing is not configured on this server")
    raw = await request.body()
    # The signature is checked before the body is even parsed: nothing unsigned gets looked at.
    secret = settings.billing_webhook_secret.get_secret_value().encode()
    if not _signed(raw, request.headers.get(SIGNATURE_HEADER, ""), secret):
        raise ApiError("INVALID_SIGNATURE", f"missing or wrong {SIGNATURE_HEADER}")
    try:
        body = BillingEventBody.model_validate_json(raw)
    except ValidationError as error:
        fields = [
            {"loc": ["body", *error_detail["loc"]], "message": error_detail["msg"]}
            for error_detail in error.errors(include_url=False, include_input=False)
        ]
        raise ApiError(
            "VALIDATION_ERROR", "Request validation failed", details={"fields": fields}
        ) from None
    outcome = await run_in_threadpool(
        application.apply_billing_event,
        ApplyBillingEvent(
            event_id=body.id,
            event_type=body.type,
            user_id=body.data.user_id,
            period_end=body.data.period_end,
            credits=body.data.credits,
            payload=body.model_dump(mode="json"),
        ),
    )
    return Envelope(
        data=BillingEventOut(id=body.id, type=body.type, duplicate=outcome.duplicate),
        meta=with_position(response, outcome.position),
    )


def _signed(raw: bytes, header: str, secret: bytes) -> bool:
    if not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret, raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix(SIGNATURE_PREFIX).strip().lower())
