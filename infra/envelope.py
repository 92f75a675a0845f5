"""The JSON shapes every response of both apps takes: `{"data", "meta"}` or `{"error"}`."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    """A successful answer: the resource (or list) in `data`, positions/cursors in `meta`."""

    data: T
    meta: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """What went wrong, in a form a client can branch on (`code`) and a human can read."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "code": "TASK_LIMIT_EXCEEDED",
                "message": "Active task limit of 50 reached",
                "details": {"limit": 50},
                "request_id": "4f1c2b0e9d8a4c7e8b6a5d4c3b2a1f0e",
            }
        }
    )

    code: str = Field(description="UPPER_SNAKE error code; stable, safe to branch on.")
    message: str = Field(description="Human-readable explanation; may change between versions.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Machine-readable specifics, `{}` when none."
    )
    request_id: str = Field(description="The X-Request-ID of the failed request, for support.")


class ErrorEnvelope(BaseModel):
    """Body of every 4xx/5xx response."""

    error: ErrorBody
