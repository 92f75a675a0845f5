"""Columns of rows as PostgreSQL arrays in binary, for set-based writes (`unnest(%b::uuid[])`).

psycopg encodes a list parameter element by element in Python, after walking the whole list to
choose the elements' type: at a million events, a quarter of a rebuild's time went on the
activity log's and the task list's columns. Their types are known where their statements are
written, so each column is encoded here in one pass: fixed-size numbers with `struct`, texts and
UUIDs joined as bytes, times by psycopg's own C dumper.

The array goes with no type of its own (oid 0): the statement's cast (`%b::uuid[]`, which every
set-based statement has) tells PostgreSQL what it is, and the array's header names its element
type, which PostgreSQL checks. A column holding a value this module does not expect (a naive
datetime, a number out of its type's range, a type it does not know) goes as a plain list,
which psycopg encodes as before. Every text is made storable first (storable_text.py), as every
text a view writes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, TypeAlias, cast
from uuid import UUID

import psycopg
from mypy_extensions import mypyc_attr
from psycopg.abc import Buffer
from psycopg.adapt import AdaptersMap, Dumper, PyFormat
from psycopg.pq import Format

from projections.storable_text import storable

# Final, like every module-level name used for each element: where this module is compiled
# (infra/compiled.py), a Final name is read from a C variable, any other from the module's
# dictionary at each use (imported names too, hence the aliases).
# Dimensions, has nulls, element type, length, lower bound: the header of a 1-D array.
_HEADER: Final = struct.Struct("!iiIii")
_NULL: Final = b"\xff\xff\xff\xff"  # an element's length of -1
_UUID: Final = UUID
_DATETIME: Final = datetime
_storable: Final = storable
# psycopg's own binary dumper of an aware datetime (its C version where installed; a bytearray).
_TIMESTAMPTZ: Final = cast(
    Callable[[datetime], Buffer],
    psycopg.adapters.get_dumper(datetime, PyFormat.BINARY)(datetime).dump,
)

# Short texts recur (an event's type, an action, a priority): their elements are kept, at most
# SHORT_TEXTS_KEPT of them (~1 MB at most), and reused. Keyed by the `str` itself: equal texts,
# equal elements.
SHORT_TEXT: Final = 64
SHORT_TEXTS_KEPT: Final = 4096
_SHORT_TEXTS: Final[dict[str, bytes]] = {}

# The elements of a column, each as its length and bytes (or _NULL).
Encoder: TypeAlias = Callable[[Sequence[Any]], list[bytes]]


class EncodedArray:
    """An array parameter already in PostgreSQL's binary form."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


@mypyc_attr(native_class=False)  # a psycopg class's subclass (see infra/compiled.py)
class EncodedArrayDumper(Dumper):
    format = Format.BINARY
    oid = 0  # the statement's cast says the type (see the module's docstring)

    def dump(self, obj: EncodedArray) -> Buffer:
        return obj.data


def bind_encoded_arrays(adapters: AdaptersMap) -> None:
    adapters.register_dumper(EncodedArray, EncodedArrayDumper)


class _Unexpected(Exception):  # noqa: N818 (control flow, never seen outside)
    """A value the column's encoder does not take: the column goes as a plain list."""


def _integers(size: int, code: str) -> Encoder:
    """Integers of `size` bytes, packed with struct `code`."""
    prefix = struct.pack("!i", size)
    pack = struct.Struct(f"!{code}").pack

    def encode(items: Sequence[Any]) -> list[bytes]:
        parts = []
        for item in items:
            if item is None:
                parts.append(_NULL)
            elif type(item) is int:
                parts.append(prefix + pack(item))
            else:
                raise _Unexpected
        return parts

    return encode


def _booleans(items: Sequence[Any]) -> list[bytes]:
    parts = []
    for item in items:
        if item is None:
            parts.append(_NULL)
        elif item is True:
            parts.append(b"\x00\x00\x00\x01\x01")
        elif item is False:
            parts.append(b"\x00\x00\x00\x01\x00")
        else:
            raise _Unexpected
    return parts


def _uuids(items: Sequence[Any]) -> list[bytes]:
    parts = []
    for item in items:
        if item is None:
            parts.append(_NULL)
        elif type(item) is _UUID:
            # What UUID.bytes returns, without its Python-level property call.
            parts.append(b"\x00\x00\x00\x10" + item.int.to_bytes(16, "big"))
        else:
            raise _Unexpected
    return parts


def _texts(items: Sequence[Any]) -> list[bytes]:
    parts = []
    known = _SHORT_TEXTS
    for item in items:
        if item is None:
            parts.append(_NULL)
            continue
        if type(item) is not str:
            raise _Unexpected
        part = known.get(item)
        if part is None:
            data = _storable(item).encode()
            part = len(data).to_bytes(4, "big") + data
            if len(item) <= SHORT_TEXT:
                if len(known) >= SHORT_TEXTS_KEPT:
                    known.clear()
                known[item] = part
        parts.append(part)
    return parts


def _timestamptzs(items: Sequence[Any]) -> list[bytes]:
    parts = []
    for item in items:
        if item is None:
            parts.append(_NULL)
        elif type(item) is _DATETIME and item.tzinfo is not None:
            parts.append(b"\x00\x00\x00\x08" + _TIMESTAMPTZ(item))
        else:
            raise _Unexpected
    return parts


# PostgreSQL type -> (element type's oid, encoder of the elements).
_ENCODERS: Final[dict[str, tuple[int, Encoder]]] = {
    "boolean": (16, _booleans),
    "smallint": (21, _integers(2, "h")),
    "integer": (23, _integers(4, "i")),
    "bigint": (20, _integers(8, "q")),
    "text": (25, _texts),
    "uuid": (2950, _uuids),
    "timestamptz": (1184, _timestamptzs),
}
TYPES = frozenset(_ENCODERS)


def encode_column(kind: str, items: Sequence[Any]) -> EncodedArray | list[Any]:
    """`items` as an array of PostgreSQL type `kind` (one of TYPES), for a `%b::kind[]`."""
    element_oid, encode = _ENCODERS[kind]
    try:
        parts = encode(items)
    except (_Unexpected, struct.error):
        return list(items)
    # Exact: an element that is not NULL starts with its length, never -1.
    has_nulls = _NULL in parts
    header = _HEADER.pack(1, has_nulls, element_oid, len(parts), 1)
    return EncodedArray(header + b"".join(parts))


def encode_columns(
    rows: Sequence[Sequence[Any]], kinds: Sequence[str]
) -> list[EncodedArray | list[Any]]:
    """The columns of `rows` (tuples in the order of `kinds`), each as one array."""
    columns = zip(*rows, strict=True) if rows else ([] for _ in kinds)
    return [encode_column(kind, column) for kind, column in zip(kinds, columns, strict=True)]
