"""Columns encoded by projections/binary_arrays.py reach PostgreSQL as the values they hold:
what psycopg sends for the same list, with texts made storable. Anything the encoder does not
take goes as the plain list, and fares as psycopg's list does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.rows import TupleRow

from infra.database import DatabaseAddress
from projections.binary_arrays import TYPES, EncodedArray, bind_encoded_arrays, encode_column
from projections.storable_text import bind_storable_text, storable

pytestmark = pytest.mark.integration

AWARE = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "boolean": st.booleans(),
    "smallint": st.integers(-(2**15), 2**15 - 1),
    "integer": st.integers(-(2**31), 2**31 - 1),
    "bigint": st.integers(-(2**63), 2**63 - 1),
    "text": st.text(),  # NUL and lone surrogates included
    "uuid": st.uuids(),
    "timestamptz": AWARE,
}


@pytest.fixture(scope="module")
def connection(database: DatabaseAddress) -> Iterator[psycopg.Connection[TupleRow]]:
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        bind_storable_text(conn.adapters)
        bind_encoded_arrays(conn.adapters)
        yield conn


def round_trip(conn: psycopg.Connection[TupleRow], kind: str, value: Any) -> Any:
    row = conn.execute(f"SELECT %b::{kind}[]", (value,)).fetchone()
    assert row is not None
    return row[0]


def expected(kind: str, items: list[Any]) -> list[Any]:
    if kind == "text":
        return [None if item is None else storable(item) for item in items]
    return items


def test_every_type_is_covered() -> None:
    assert set(VALUES) == TYPES


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_column_reaches_postgresql_as_the_values_it_holds(
    connection: psycopg.Connection[TupleRow], data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(sorted(VALUES)))
    items = data.draw(st.lists(st.one_of(st.none(), VALUES[kind]), max_size=20))

    encoded = encode_column(kind, items)

    assert isinstance(encoded, EncodedArray)
    assert round_trip(connection, kind, encoded) == expected(kind, items)
    # The same as psycopg's own encoding of the list, where psycopg can send it.
    if any(item is not None for item in items):
        assert round_trip(connection, kind, expected(kind, items)) == expected(kind, items)


def test_texts_postgresql_cannot_hold_arrive_storable(
    connection: psycopg.Connection[TupleRow],
) -> None:
    long = "a long text, longer than the short texts kept " * 3  # written, not kept
    items = ["a\x00b", "lone \ud800 surrogate", "", None, "caf\u00e9 \U0001f600", long + "\x00"]
    kept = ["a\ufffdb", "lone \ufffd surrogate", "", None, "caf\u00e9 \U0001f600", long + "\ufffd"]

    # Twice: the second time short texts are encoded from what the first kept.
    for _ in range(2):
        assert round_trip(connection, "text", encode_column("text", items)) == kept


@pytest.mark.parametrize(
    ("kind", "items"),
    [
        ("integer", [1, 2**40]),  # out of the type's range
        ("integer", [1, "2"]),
        ("boolean", [True, 1]),
        ("uuid", [UUID(int=1), "00000000-0000-0000-0000-000000000002"]),
        ("timestamptz", [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1)]),  # naive
        ("text", ["a", b"b"]),
        ("text", ["a", ["not", "a", "text"]]),
    ],
)
def test_a_value_the_encoder_does_not_take_sends_the_plain_list(
    connection: psycopg.Connection[TupleRow], kind: str, items: list[Any]
) -> None:
    encoded = encode_column(kind, items)

    assert encoded == items
    assert not isinstance(encoded, EncodedArray)


def test_times_keep_their_instant_whatever_their_zone(
    connection: psycopg.Connection[TupleRow],
) -> None:
    instant = datetime(2026, 11, 28, 23, 30, 0, 123456, tzinfo=UTC)
    items = [instant, instant.astimezone(timezone(timedelta(hours=-7, minutes=-30)))]

    assert round_trip(connection, "timestamptz", encode_column("timestamptz", items)) == items


def test_an_array_of_the_wrong_type_is_refused_by_postgresql(
    connection: psycopg.Connection[TupleRow],
) -> None:
    # The array's header names its element type; a statement casting to another one fails
    # instead of reading the bytes as something else.
    with pytest.raises(psycopg.errors.DatatypeMismatch):
        round_trip(connection, "bigint", encode_column("uuid", [UUID(int=5)]))
