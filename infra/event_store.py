"""The event store's recorder: each append is stamped with the request (and the
Idempotency-Key) that caused it, in the same transaction as the events themselves.

* `events.<app>_event_requests(notification_id, request_id)`: which request appended each
  event, for the activity log. Events appended outside a request get no row.
* `events.idempotency_keys`: the key the command ran under is marked committed, with its
  position and saved aggregates (see infra/command_keys.py).
* A commit whose acknowledgement was lost (the connection dropped after the server committed)
  makes the library retry the insert, which then collides with the events it already wrote.
  Those events, byte for byte, are recognised and their positions returned: the append happened
  once, and the command is not decided again on top of itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.errors import DivisionByZero
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb

from infra.command_keys import IDEMPOTENCY_TABLE, CommandKeyLostError, current_command_key
from infra.request_context import current_request_id

# The store's infrastructure: the library's PostgreSQL factory with our recorders.
FACTORY_TOPIC = "infra.event_store:PerpetuaFactory"

# The library retries a lost connection ten times, 0.2 s apart, and each try may wait for the
# pool's connect timeout: half a minute before a request learns that the database is gone. A
# dropped connection is ridden out in a try or two; after three the request answers 503.
CONNECTION_ATTEMPTS = 3
CONNECTION_RETRY_WAIT_SECONDS = 0.1
_few_retries = retry(
    (InterfaceError, OperationalError),
    max_attempts=CONNECTION_ATTEMPTS,
    wait=CONNECTION_RETRY_WAIT_SECONDS,
)


@dataclass(frozen=True)
class AbandonedCommit:
    """A key whose command committed (what it saved: id, version, topic) and went unanswered."""

    user_id: UUID
    key: str
    aggregates: list[dict[str, Any]]


class RequestStampingRecorder(PostgresApplicationRecorder):
    # The library's methods without its long retries, with ours (see above).
    select_events = _few_retries(PostgresApplicationRecorder.select_events.__wrapped__)
    select_notifications = _few_retries(
        PostgresApplicationRecorder.select_notifications.__wrapped__
    )
    max_notification_id = _few_retries(PostgresApplicationRecorder.max_notification_id.__wrapped__)
    _insert_events_retried = _few_retries(PostgresApplicationRecorder.insert_events.__wrapped__)

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.requests_table_name = events_table_name.removesuffix("_events") + "_event_requests"
        self.check_identifier_length(self.requests_table_name)
        schema = Identifier(self.datastore.schema)
        table = SQL("{}.{}").format(schema, Identifier(self.requests_table_name))
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " notification_id bigint PRIMARY KEY,"
                " request_id text NOT NULL)"
            ).format(table)
        )
        self._stamp = SQL(
            "INSERT INTO {} (notification_id, request_id) SELECT unnest(%s::bigint[]), %s"
        ).format(table)
        # Several saves of one attempt (spend, then record the outcome) all count. A save of
        # an attempt that no longer holds the key marks no row, and then divides by zero: the
        # error must happen in the server, because the library commits its transaction when
        # a Python exception is raised here and re-raises it only afterwards.
        self._mark_committed = SQL(
            "WITH marked AS (UPDATE {} SET committed_attempt = attempt,"
            " committed_position = %(position)s,"
            " committed_aggregates = coalesce(committed_aggregates, '[]'::jsonb) || %(saved)s,"
            " updated_at = now()"
            " WHERE user_id = %(user_id)s AND key = %(key)s AND attempt = %(attempt)s"
            " AND (committed_attempt IS NULL OR committed_attempt = attempt)"
            " RETURNING 1)"
            " SELECT 1 / (SELECT count(*)::integer FROM marked)"
        ).format(SQL("{}.{}").format(schema, Identifier(IDEMPOTENCY_TABLE)))
        keys = SQL("{}.{}").format(schema, Identifier(IDEMPOTENCY_TABLE))
        # Keys whose command committed something and then went quiet: its process died (or
        # its answer failed) and the client has not come back for it.
        self._abandoned = SQL(
            "SELECT user_id, key, committed_aggregates FROM {} WHERE state <> 'completed'"
            " AND state <> 'swept' AND committed_attempt IS NOT NULL"
            " AND updated_at < now() - %s ORDER BY updated_at LIMIT %s"
        ).format(keys)
        # `updated_at` is kept: a retry still finds the claim abandoned, and settles it the
        # same way (the refund is done by then, so it records nothing more).
        self._swept = SQL(
            "UPDATE {} SET state = 'swept' WHERE user_id = %s AND key = %s AND state <> 'completed'"
        ).format(keys)
        self._recorded = SQL(
            "SELECT originator_id, originator_version, topic, state, notification_id FROM {}"
            " WHERE originator_id = %s AND originator_version = %s"
        ).format(SQL("{}.{}").format(schema, Identifier(self.events_table_name)))

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        request_id = current_request_id.get()
        if ids and request_id is not None:
            curs.execute(self._stamp, (list(ids), request_id))
        command_key = current_command_key.get()
        if ids and command_key is not None:
            saved = [
                {"id": str(e.originator_id), "version": e.originator_version, "topic": e.topic}
                for e in stored_events
            ]
            params = {
                "position": max(ids),
                "saved": Jsonb(saved),
                "user_id": command_key.user_id,
                "key": command_key.key,
                "attempt": command_key.attempt,
            }
            try:
                curs.execute(self._mark_committed, params).fetchone()
            except DivisionByZero:
                raise CommandKeyLostError(
                    "this request's Idempotency-Key was taken over by a newer attempt"
                ) from None
        return ids

    def abandoned_commits(self, idle_for: timedelta, limit: int) -> list[AbandonedCommit]:
        """Commands that committed under a key and were not answered for `idle_for`."""
        with self.datastore.transaction(commit=False) as curs:
            rows = curs.execute(self._abandoned, (idle_for, limit)).fetchall()
        return [
            AbandonedCommit(row["user_id"], row["key"], row["committed_aggregates"] or [])
            for row in rows
        ]

    def mark_swept(self, commit: AbandonedCommit) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._swept, (commit.user_id, commit.key))

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        try:
            ids: Sequence[int] | None = self._insert_events_retried(stored_events, **kwargs)
        except IntegrityError:
            already = self._already_recorded(stored_events)
            if already is None:
                raise
            return already
        return ids

    def _already_recorded(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The positions of exactly these events, if every one of them is in the store."""
        positions = []
        with self.datastore.transaction(commit=False) as curs:
            for stored in stored_events:
                row = curs.execute(
                    self._recorded, (stored.originator_id, stored.originator_version)
                ).fetchone()
                if row is None or (row["topic"], bytes(row["state"])) != (
                    stored.topic,
                    bytes(stored.state),
                ):
                    return None
                positions.append(row["notification_id"])
        return positions


class FewRetriesAggregateRecorder(PostgresAggregateRecorder):
    """The snapshot store's recorder, with our retries (see CONNECTION_ATTEMPTS)."""

    select_events = _few_retries(PostgresAggregateRecorder.select_events.__wrapped__)
    insert_events = _few_retries(PostgresAggregateRecorder.insert_events.__wrapped__)


class PerpetuaFactory(PostgresFactory):
    aggregate_recorder_class = FewRetriesAggregateRecorder
    application_recorder_class = RequestStampingRecorder
