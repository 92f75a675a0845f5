"""The task list's fold writes every column of its tables with the table's own type: it
deletes and inserts a part's row whole, so a column added to a table but not to the fold
would be lost at the next catch-up or rebuild."""

from __future__ import annotations

import psycopg
import pytest

from infra.database import READ_SCHEMA, DatabaseAddress
from perpetua.wiring import build_views
from projections.base import close_views
from projections.task_fold import PART_ROW_TYPES, TASK_ROW_TYPES

pytestmark = pytest.mark.integration

# information_schema's names for the types the fold writes.
TYPE_NAMES = {"timestamp with time zone": "timestamptz"}


def test_the_fold_writes_every_column_of_the_task_lists_tables_with_its_type(
    fresh_database: DatabaseAddress,
) -> None:
    views = build_views(fresh_database, ["task_list"])
    views["task_list"].create_table()
    close_views(views)
    with psycopg.connect(fresh_database.conninfo) as conn:
        for table, written in {"tasks": TASK_ROW_TYPES, **PART_ROW_TYPES}.items():
            columns = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (READ_SCHEMA, table),
            ).fetchall()
            assert [(name, TYPE_NAMES.get(kind, kind)) for name, kind in columns] == list(
                written
            ), table
