"""What the fault tests share: whole read models to compare, projector processes to kill."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import psycopg
from psycopg import sql

from infra.database import DatabaseAddress
from perpetua.wiring import build_views
from projections.base import close_views


def read_model(address: DatabaseAddress) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table (tracking aside), in a stable order."""
    views = build_views(address)
    tables = sorted({table for view in views.values() for table in view.table_names})
    close_views(views)
    with psycopg.connect(address.conninfo) as conn:
        return {
            table: sorted(
                conn.execute(sql.SQL("SELECT * FROM read.{}").format(sql.Identifier(table))),
                key=repr,
            )
            for table in tables
        }


def database_url(address: DatabaseAddress) -> str:
    return (
        f"postgresql://{address.user}:{address.password}@/{address.dbname}"
        f"?host={address.host}&port={address.port}"
    )


def start_projector(address: DatabaseAddress) -> subprocess.Popen[bytes]:
    """`perpetua projector` (every projection) in a process of its own."""
    env = {**os.environ, "DATABASE_URL": database_url(address), "LOG_LEVEL": "WARNING"}
    return subprocess.Popen(  # our own CLI, our own interpreter
        [sys.executable, "-m", "perpetua", "projector"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
