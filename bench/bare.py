"""Baselines for the read API: bare FastAPI apps serving what `GET /tasks?limit=50` serves.

    python -m bench.bare memory|sql PORT DATABASE_URL OWNER_ID

* memory: the same 50 rows, read once at start-up, returned from memory.
* sql:    the same SELECT (the task list's own statement) on every request, through a
          psycopg async pool.

No auth, no middleware, no consistency header: what FastAPI and the database cost alone.
Served with the service's own uvicorn settings (perpetua.serve.uvicorn_config).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import psycopg
import uvicorn
from fastapi import FastAPI
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from infra.database import EVENT_STORE_NAME, DatabaseAddress
from perpetua.serve import uvicorn_config
from projections.base import open_datastore
from projections.task_list import TaskListQuery, TaskListView


def list_statement(address: DatabaseAddress, owner_id: UUID) -> tuple[str, dict[str, Any]]:
    """The SQL text and parameters the task list runs for one page of 50."""
    datastore = open_datastore(address, "read", max_overflow=0)
    try:
        statement, params = TaskListView(datastore)._list_statement(
            TaskListQuery(owner_id=owner_id, limit=50)
        )
        params["application_name"] = EVENT_STORE_NAME
        with psycopg.connect(address.conninfo) as conn:
            return statement.as_string(conn), params
    finally:
        datastore.close()


def memory_app(address: DatabaseAddress, owner_id: UUID) -> FastAPI:
    statement, params = list_statement(address, owner_id)
    with psycopg.connect(address.conninfo, row_factory=dict_row) as conn:
        rows = conn.execute(statement, params).fetchall()[:50]
    app = FastAPI()

    @app.get("/api/v1/tasks")
    async def tasks() -> dict[str, Any]:
        return {"data": rows, "meta": {"next_cursor": None, "limit": 50}}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return app


def sql_app(address: DatabaseAddress, owner_id: UUID) -> FastAPI:
    statement, params = list_statement(address, owner_id)
    pool = AsyncConnectionPool(
        address.conninfo, min_size=2, max_size=10, open=False, kwargs={"row_factory": dict_row}
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await pool.open()
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/api/v1/tasks")
    async def tasks() -> dict[str, Any]:
        async with pool.connection() as conn:
            cursor = await conn.execute(statement, params)
            rows = (await cursor.fetchall())[:50]
        return {"data": rows, "meta": {"next_cursor": None, "limit": 50}}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    kind, port, url, owner = sys.argv[1:5]
    build = memory_app if kind == "memory" else sql_app
    address = DatabaseAddress.from_url(url)
    uvicorn.Server(uvicorn_config(build(address, UUID(owner)), "127.0.0.1", int(port))).run()


if __name__ == "__main__":
    main()
