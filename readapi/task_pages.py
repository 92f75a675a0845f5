"""The task list's pages, read on the event loop: an async pool, tuple rows, one JSON pass.

`GET /tasks` is what every client polls. Its statement is the task list view's own
(`TaskListView._list_statement`: the page and the position it reflects in one statement),
run through a psycopg `AsyncConnectionPool` owned by the app's lifespan, so a request never
waits for a worker thread. Rows come back as tuples and go straight into the JSON body in
`TaskOut`'s field order, with `TaskOut`'s serialisation (pydantic-core), without a dict or a
model per row; `tests/integration/test_read_task_pages.py` holds that to the model's bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from psycopg.sql import Composed
from psycopg_pool import AsyncConnectionPool
from pydantic import TypeAdapter

from infra.database import EVENT_STORE_NAME
from projections.cursors import encode_cursor
from projections.task_list import TaskListQuery, TaskListView
from readapi.schemas import TaskOut

# How long a request waits for a pooled connection (or for the pool to open a new one): a
# database that is gone answers 503 after this, it does not hold the request.
POOL_TIMEOUT_SECONDS = 2.0
# An empty page has no row to carry its position: then both are read again in one snapshot.
_BEGIN_SNAPSHOT = b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_END_SNAPSHOT = b"COMMIT"
# Rendered statements kept, one per shape (sort order and the filters given).
_STATEMENTS_KEPT = 256
# Queries (owner included) whose statement and parameters are kept.
_QUERIES_KEPT = 1024

_JSON: TypeAdapter[Any] = TypeAdapter(Any)
_OUT_FIELDS = tuple(TaskOut.model_fields)


@dataclass(frozen=True)
class TaskPageJson:
    """A page of the task list: its rows as a JSON array, the next cursor, the position."""

    data_json: bytes
    next_cursor: str | None
    position: int


@dataclass(frozen=True)
class _Layout:
    """Where each of TaskOut's fields, the sort key, the id and the position are in a row."""

    out_columns: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    sort_key: int
    id: int
    position: int

    @classmethod
    def of(cls, names: Sequence[str]) -> _Layout:
        return cls(
            out_columns=itemgetter(*(names.index(name) for name in _OUT_FIELDS)),
            sort_key=names.index("sort_key"),
            id=names.index("id"),
            position=names.index("position"),
        )


class TaskPages:
    """Owns the async pool; `open()` and `close()` belong in the app's lifespan."""

    def __init__(
        self,
        view: TaskListView,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        timeout: float = POOL_TIMEOUT_SECONDS,
    ) -> None:
        self._view = view
        self._position_statement = view._position_statement.as_string(None).encode()
        self.pool: AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]] = AsyncConnectionPool(
            conninfo,
            kwargs={"autocommit": True},
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            name="read-api-task-pages",
        )
        self._statements: dict[Hashable, bytes] = {}
        self._queries: dict[TaskListQuery, tuple[bytes, dict[str, Any]]] = {}
        self._layouts: dict[bytes, _Layout] = {}

    async def open(self) -> None:
        # Not waiting for the first connections: the app starts even while the database is
        # away, and answers 503 until it is back.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def page(self, query: TaskListQuery) -> TaskPageJson:
        """One page; InvalidCursorError for a cursor this query did not hand out."""
        # A client polls the same query again and again: its statement and parameters (a
        # pure function of the query, cursor decoding included) are built once.
        known = self._queries.get(query)
        if known is None:
            composed, params = self._view._list_statement(query)
            params["application_name"] = EVENT_STORE_NAME
        async with self.pool.connection() as conn:
            if known is None:
                known = self._rendered(query.sort, params, composed, conn), params
                if len(self._queries) >= _QUERIES_KEPT:
                    self._queries.clear()
                self._queries[query] = known
            text, params = known
            # One statement is one snapshot: rows and position agree without a transaction.
            cursor = await conn.execute(text, params)
            layout = self._layout_of(text, cursor)
            rows: list[tuple[Any, ...]] = await cursor.fetchall()
            if rows:
                position = rows[0][layout.position] or 0
            else:
                rows, position = await self._empty_page(conn, text, params)
        return _cut(rows, query, layout, position)

    async def _empty_page(
        self, conn: AsyncConnection[tuple[Any, ...]], text: bytes, params: dict[str, Any]
    ) -> tuple[list[tuple[Any, ...]], int]:
        """No row to carry the position: rows and position again, from one snapshot, in one
        round trip (the statements go as one pipeline)."""
        async with conn.pipeline():
            await conn.execute(_BEGIN_SNAPSHOT)
            page = await conn.execute(text, params)
            found = await conn.execute(self._position_statement, (EVENT_STORE_NAME,))
            await conn.execute(_END_SNAPSHOT)
        rows = await page.fetchall()
        position_row = await found.fetchone()
        return rows, (position_row[0] if position_row else 0) or 0

    def _rendered(
        self,
        sort: str,
        params: dict[str, Any],
        composed: Composed,
        conn: AsyncConnection[tuple[Any, ...]],
    ) -> bytes:
        """The statement's text, rendered once per shape: it depends only on the sort order
        and on which parameters it binds (each condition binds parameters of its own)."""
        shape = (sort, frozenset(params))
        text = self._statements.get(shape)
        if text is None:
            text = composed.as_bytes(conn)
            if len(self._statements) >= _STATEMENTS_KEPT:
                self._statements.clear()
            self._statements[shape] = text
        return text

    def _layout_of(self, text: bytes, cursor: AsyncCursor[tuple[Any, ...]]) -> _Layout:
        layout = self._layouts.get(text)
        if layout is None:
            layout = _Layout.of([column.name for column in cursor.description or ()])
            if len(self._layouts) >= _STATEMENTS_KEPT:
                self._layouts.clear()
            self._layouts[text] = layout
        return layout


def _cut(
    rows: Sequence[tuple[Any, ...]], query: TaskListQuery, layout: _Layout, position: int
) -> TaskPageJson:
    """Rows fetched with `limit + 1`: the page, and the cursor to the next one if any."""
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]
        next_cursor = encode_cursor(query.sort, last[layout.sort_key], last[layout.id])
        rows = rows[: query.limit]
    values_of = layout.out_columns
    data = [dict(zip(_OUT_FIELDS, values_of(row), strict=True)) for row in rows]
    return TaskPageJson(_JSON.dump_json(data), next_cursor, position)
