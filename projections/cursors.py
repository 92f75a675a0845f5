"""Opaque keyset cursors: the sort order and the (key, id) of the last row handed out.

A cursor is only valid for the order it was made for, so a client that changes the sort
starts from the first page instead of getting a silently wrong one.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any
from uuid import UUID


class InvalidCursorError(ValueError):
    """A `cursor` that this query did not hand out."""


def encode_cursor(order: str, key: int | datetime, row_id: UUID) -> str:
    value = key.isoformat() if isinstance(key, datetime) else key
    payload = {"s": order, "v": value, "id": str(row_id)}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def cut_page(
    rows: list[dict[str, Any]], limit: int, order: str, key: str, row_id: str | None = "id"
) -> tuple[list[dict[str, Any]], str | None]:
    """Rows fetched with `limit + 1`: the page, and the cursor to the next one if there is one."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    identity = last[row_id] if row_id else UUID(int=0)
    return rows[:limit], encode_cursor(order, last[key], identity)


def decode_cursor(
    order: str, cursor: str, key_type: type[int] | type[datetime]
) -> tuple[Any, UUID]:
    """The (key, id) to continue after; InvalidCursorError for anything else."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(payload, dict):
            raise InvalidCursorError("the cursor is not valid")
        if payload["s"] != order:
            raise InvalidCursorError("the cursor belongs to another sort order")
        value = payload["v"]
        key = int(value) if key_type is int else datetime.fromisoformat(value)
        return key, UUID(payload["id"])
    except InvalidCursorError:
        raise
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise InvalidCursorError("the cursor is not valid") from error
