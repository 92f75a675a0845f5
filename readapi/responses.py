"""Read responses: JSON with the position it reflects, and ETags for cheap polling."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, TypeAdapter

from infra.envelope import Envelope
from readapi.deps import POSITION_HEADER

# Serialises whatever it is given by its runtime type (models, UUIDs, datetimes) in one pass
# of pydantic-core: the same JSON `jsonable_encoder` then `json.dumps` made, without the
# intermediate tree of Python objects.
_JSON: TypeAdapter[Any] = TypeAdapter(Any)


def read_response(request: Request, payload: Any, position: int) -> Response:
    """A 200 with an ETag of its body; a 304 when the client already has that body."""
    if isinstance(payload, Envelope):
        data, meta = payload.data, payload.meta
    else:
        body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        body = jsonable_encoder(body)
        data, meta = body.get("data"), body.get("meta", {})
    return answer_response(request, json_answer(_json_of(data), jsonable_encoder(meta)), position)


def json_answer(data_json: bytes, meta: dict[str, Any]) -> tuple[bytes, str]:
    """The body `{"data": ..., "meta": ...}` around serialised data, and its ETag."""
    # The tag covers what the client sees change: the data and the paging, not the position,
    # which moves with every other user's events and would defeat cheap polling.
    etag = entity_tag(data_json, {key: value for key, value in meta.items() if key != "position"})
    return b'{"data":' + data_json + b',"meta":' + _JSON.dump_json(meta) + b"}", etag


def answer_response(request: Request, answer: tuple[bytes, str], position: int) -> Response:
    """A 200 with the body and its ETag; a 304 when the client already has that body."""
    content, etag = answer
    headers = {"ETag": etag, POSITION_HEADER: str(position), "Cache-Control": "no-cache"}
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type="application/json", headers=headers)


def entity_tag(data_json: bytes, meta: dict[str, Any]) -> str:
    digest = hashlib.sha256(data_json)
    digest.update(b"\0")
    digest.update(_JSON.dump_json(meta))
    return f'W/"{digest.hexdigest()[:32]}"'


def _json_of(value: Any) -> bytes:
    """Models (and lists of them) straight through pydantic-core; anything else as
    `jsonable_encoder` sees it (its spelling of a bare datetime or Decimal differs)."""
    if isinstance(value, BaseModel) or (
        isinstance(value, list) and all(isinstance(item, BaseModel) for item in value)
    ):
        return _JSON.dump_json(value)
    return _JSON.dump_json(jsonable_encoder(value))


def _etags(header: str) -> set[str]:
    tags = {tag.strip() for tag in header.split(",") if tag.strip()}
    # Weak comparison (RFC 9110 §13.1.2): W/"x" and "x" match.
    return tags | {f"W/{tag}" for tag in tags if not tag.startswith("W/")}
