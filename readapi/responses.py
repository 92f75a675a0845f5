"""Read responses: JSON with the position it reflects, and ETags for cheap polling."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from readapi.deps import POSITION_HEADER


def read_response(request: Request, payload: Any, position: int) -> Response:
    """A 200 with an ETag of its body; a 304 when the client already has that body."""
    body = jsonable_encoder(payload)
    response = JSONResponse(body)
    etag = entity_tag(body)
    headers = {"ETag": etag, POSITION_HEADER: str(position), "Cache-Control": "no-cache"}
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response


def entity_tag(body: dict[str, Any]) -> str:
    """A tag of what the client sees change: the data and the paging, not the position,
    which moves with every other user's events and would defeat cheap polling."""
    meta = {key: value for key, value in body.get("meta", {}).items() if key != "position"}
    content = json.dumps({"data": body.get("data"), "meta": meta}, sort_keys=True)
    return f'W/"{hashlib.sha256(content.encode()).hexdigest()[:32]}"'


def _etags(header: str) -> set[str]:
    tags = {tag.strip() for tag in header.split(",") if tag.strip()}
    # Weak comparison (RFC 9110 §13.1.2): W/"x" and "x" match.
    return tags | {f"W/{tag}" for tag in tags if not tag.startswith("W/")}
