"""The PostgreSQL side of the rate limits (infra/rate_limit.py): one row per allowed hit.

Apart from the middleware so that creating its table (`perpetua.wiring.prepare_database`, in
every process, CLI tools included) does not import the web stack.
"""

from __future__ import annotations

from datetime import timedelta

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool


class RateLimitStore:
    """The hits of every PostgreSQL window: one row per allowed hit, kept for one window."""

    def __init__(self, pool: ConnectionPool, *, schema: str) -> None:
        self.pool = pool
        table = SQL("{}.{}").format(Identifier(schema), Identifier("rate_limit_hits"))
        self._create = [
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " bucket text NOT NULL, client text NOT NULL, at timestamptz NOT NULL)"
            ).format(table),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (bucket, client, at)").format(
                Identifier("rate_limit_hits_idx"), table
            ),
        ]
        # The database's clock, not the processes': every replica judges by the same one.
        self._lock = SQL("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))")
        self._forget = SQL(
            "DELETE FROM {} WHERE bucket = %s AND client = %s AND at <= clock_timestamp() - %s"
        ).format(table)
        self._count = SQL(
            "SELECT count(*) AS hits,"
            " extract(epoch FROM min(at) + %s - clock_timestamp()) AS wait"
            " FROM {} WHERE bucket = %s AND client = %s"
        ).format(table)
        self._hit = SQL("INSERT INTO {} VALUES (%s, %s, clock_timestamp())").format(table)

    def create_table(self) -> None:
        with self.pool.connection() as conn:
            for statement in self._create:
                conn.execute(statement)

    def window(self, bucket: str, *, limit: int, window: float) -> PostgresWindow:
        return PostgresWindow(self, bucket, limit=limit, window=window)

    def hit(self, bucket: str, client: str, *, limit: int, window: float) -> float:
        span = timedelta(seconds=window)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(self._lock, (f"{bucket} {client}",))
            conn.execute(self._forget, (bucket, client, span))
            row = conn.execute(self._count, (span, bucket, client)).fetchone()
            assert row is not None
            hits, wait = row
            if hits >= limit:
                return max(float(wait), 0.001)
            conn.execute(self._hit, (bucket, client))
            return 0.0


class PostgresWindow:
    """At most `limit` hits per `window` seconds for each key, across every process."""

    def __init__(self, store: RateLimitStore, bucket: str, *, limit: int, window: float) -> None:
        self.store = store
        self.bucket = bucket
        self.limit = limit
        self.window = window

    def hit(self, key: str) -> float:
        return self.store.hit(self.bucket, key, limit=self.limit, window=self.window)
