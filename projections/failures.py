"""Which projection is stuck on which event, and which events operators chose to skip.

`read.projection_failures`: the projector records a failure in a transaction of its own (the
batch's was rolled back) and clears it once the projection has applied past that position;
`perpetua projections status`, another process, reads it.

`read.projection_skips`: `perpetua projections skip` records that a projection is to pass over
one event (who, why, when: the audit trail of every event a read model does not show). The
live projector and every rebuild honour it.

Neither is a view's table: a rebuild leaves them where they are, and the positions they name
still mean the same events afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from eventsourcing.persistence import ProgrammingError
from eventsourcing.postgres import PostgresDatastore
from psycopg.errors import UndefinedTable
from psycopg.sql import SQL, Identifier

from projections.storable_text import storable

TABLE_NAME = "projection_failures"
SKIPS_TABLE_NAME = "projection_skips"
# Failed attempts at one position after which the projection stops retrying: `failed`.
FAILED_AFTER_ATTEMPTS = 5
# An error message is for a person to read; a traceback is in the projector's log.
MAX_ERROR_LENGTH = 1000


@dataclass(frozen=True)
class ProjectionFailure:
    projection: str
    position: int
    event_type: str
    error: str
    # Failed attempts at this position since the first one.
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime

    @property
    def gave_up(self) -> bool:
        return self.attempts >= FAILED_AFTER_ATTEMPTS


@dataclass(frozen=True)
class ProjectionSkip:
    projection: str
    position: int
    event_type: str
    reason: str
    skipped_by: str
    skipped_at: datetime


class ProjectionFailures:
    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        table = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(TABLE_NAME))
        self._create = SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " projection text PRIMARY KEY,"
            " position bigint NOT NULL,"
            " event_type text NOT NULL,"
            " error text NOT NULL,"
            " attempts integer NOT NULL,"
            " first_failed_at timestamptz NOT NULL,"
            " last_failed_at timestamptz NOT NULL)"
        ).format(table)
        # Another position is another problem: its count and its start begin again.
        self._record = SQL(
            "INSERT INTO {} AS f VALUES (%s, %s, %s, %s, 1, now(), now())"
            " ON CONFLICT (projection) DO UPDATE SET"
            " attempts = CASE WHEN f.position = EXCLUDED.position THEN f.attempts + 1 ELSE 1 END,"
            " first_failed_at = CASE WHEN f.position = EXCLUDED.position"
            " THEN f.first_failed_at ELSE EXCLUDED.first_failed_at END,"
            " position = EXCLUDED.position, event_type = EXCLUDED.event_type,"
            " error = EXCLUDED.error, last_failed_at = EXCLUDED.last_failed_at"
        ).format(table)
        self._clear = SQL("DELETE FROM {} WHERE projection = %s AND position <= %s").format(table)
        self._select = SQL("SELECT * FROM {}").format(table)
        skips = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(SKIPS_TABLE_NAME))
        self._create_skips = SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " projection text NOT NULL,"
            " position bigint NOT NULL,"
            " event_type text NOT NULL,"
            " reason text NOT NULL,"
            " skipped_by text NOT NULL,"
            " skipped_at timestamptz NOT NULL,"
            " PRIMARY KEY (projection, position))"
        ).format(skips)
        self._skip = SQL(
            "INSERT INTO {} VALUES (%s, %s, %s, %s, %s, now())"
            " ON CONFLICT (projection, position) DO NOTHING RETURNING skipped_at"
        ).format(skips)
        self._skipped = SQL("SELECT position FROM {} WHERE projection = %s").format(skips)
        self._all_skips = SQL("SELECT * FROM {} ORDER BY projection, position").format(skips)

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(self._create)
            cursor.execute(self._create_skips)

    def record(self, projection: str, position: int, event_type: str, error: str) -> None:
        # The message may quote the very text that made the projection fail.
        message = storable(error[:MAX_ERROR_LENGTH])
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(self._record, (projection, position, event_type, message))

    def clear(self, projection: str, applied: int) -> None:
        """Forget the projection's failure once it has applied position `applied` or beyond."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(self._clear, (projection, applied))

    def all(self) -> dict[str, ProjectionFailure]:
        with self.datastore.transaction(commit=False) as cursor:
            rows = cursor.execute(self._select).fetchall()
        return {row["projection"]: ProjectionFailure(**row) for row in rows}

    def skip(
        self, projection: str, position: int, event_type: str, *, reason: str, by: str
    ) -> bool:
        """Record that `projection` passes over the event at `position`; False if it already
        was."""
        with self.datastore.transaction(commit=True) as cursor:
            row = cursor.execute(
                self._skip, (projection, position, event_type, storable(reason), storable(by))
            ).fetchone()
        return row is not None

    def skipped(self, projection: str) -> frozenset[int]:
        """The positions `projection` passes over (none where no skip was ever recorded: a
        schema without the table, such as a replay into a schema of its own)."""
        try:
            with self.datastore.transaction(commit=False) as cursor:
                rows = cursor.execute(self._skipped, (projection,)).fetchall()
        except ProgrammingError as error:
            if not isinstance(error.__cause__, UndefinedTable):
                raise
            return frozenset()
        return frozenset(row["position"] for row in rows)

    def skips(self) -> list[ProjectionSkip]:
        with self.datastore.transaction(commit=False) as cursor:
            rows = cursor.execute(self._all_skips).fetchall()
        return [ProjectionSkip(**row) for row in rows]
