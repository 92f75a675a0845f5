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
    PersistenceError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import retry
from psycopg.sql import SQL, Composable, Composed, Identifier
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
# What the append function raises when the attempt it commits for lost its Idempotency-Key.
KEY_LOST_SQLSTATE = "PF001"
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

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.requests_table_name = events_table_name.removesuffix("_events") + "_event_requests"
        self.check_identifier_length(self.requests_table_name)
        schema = Identifier(self.datastore.schema)
        requests = SQL("{}.{}").format(schema, Identifier(self.requests_table_name))
        keys = SQL("{}.{}").format(schema, Identifier(IDEMPOTENCY_TABLE))
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " notification_id bigint PRIMARY KEY,"
                " request_id text NOT NULL)"
            ).format(requests)
        )
        function_name = f"{self.events_table_name}_append"
        self.check_identifier_length(function_name)
        function = Identifier(function_name)
        self.sql_create_statements.append(self._append_function(function, requests, keys))
        self._append = SQL(
            "SELECT position FROM {}.{}(%s, %s, %s, %s, %s, %s) AS appended(position)"
        ).format(schema, function)
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

    def _append_function(
        self, function: Identifier, requests: Composable, keys: Composable
    ) -> Composed:
        """What the library's append does (lock, NOTIFY, insert), then the request stamp and
        the key's commit mark, in one function: one round trip, and the lock is released by
        the commit inside the server.

        Several saves of one attempt (spend, then record the outcome) all count. A save of an
        attempt that no longer holds its key marks no row: the function raises, and nothing
        of the append is committed."""
        return SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}("
            " events {schema}.{event_type}[], request text,"
            " key_user uuid, key_name text, key_attempt uuid, saved jsonb)"
            " RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$"
            " DECLARE ids bigint[];"
            " BEGIN"
            "  SET LOCAL lock_timeout = '{lock_timeout}s';"
            "  LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;"
            "  NOTIFY {channel};"
            "  WITH inserted AS ("
            "   INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            "   SELECT originator_id, originator_version, topic, state FROM unnest(events)"
            "   RETURNING notification_id)"
            "  SELECT array_agg(notification_id ORDER BY notification_id) INTO ids FROM inserted;"
            "  IF request IS NOT NULL THEN"
            "   INSERT INTO {requests} (notification_id, request_id) SELECT unnest(ids), request;"
            "  END IF;"
            "  IF key_name IS NOT NULL THEN"
            "   UPDATE {keys} SET committed_attempt = attempt,"
            "    committed_position = ids[array_upper(ids, 1)],"
            "    committed_aggregates = coalesce(committed_aggregates, '[]'::jsonb) || saved,"
            "    updated_at = now()"
            "   WHERE user_id = key_user AND key = key_name AND attempt = key_attempt"
            "    AND (committed_attempt IS NULL OR committed_attempt = attempt);"
            "   IF NOT FOUND THEN"
            "    RAISE EXCEPTION 'the Idempotency-Key was taken over by a newer attempt'"
            "     USING ERRCODE = '{key_lost}';"
            "   END IF;"
            "  END IF;"
            "  RETURN QUERY SELECT unnest(ids);"
            " END $BODY$"
        ).format(
            schema=Identifier(self.datastore.schema),
            function=function,
            event_type=Identifier(self.stored_event_type_name),
            lock_timeout=SQL(str(int(self.datastore.lock_timeout))),
            table=Identifier(self.events_table_name),
            channel=Identifier(self.channel_name),
            requests=requests,
            keys=keys,
            key_lost=SQL(KEY_LOST_SQLSTATE),
        )

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
            ids: list[int] = self._append_retried(stored_events)
        except IntegrityError:
            already = self._already_recorded(stored_events)
            if already is None:
                raise
            return already
        return ids

    @_few_retries
    def _append_retried(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        if not stored_events:
            return []
        events = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        key = current_command_key.get()
        # What the key is marked with (decision 16); appends outside a command mark nothing.
        marked: tuple[Any, ...] = (None, None, None, None)
        if key is not None:
            saved = [
                {"id": str(e.originator_id), "version": e.originator_version, "topic": e.topic}
                for e in stored_events
            ]
            marked = (key.user_id, key.key, key.attempt, Jsonb(saved))
        params = (events, current_request_id.get(), *marked)
        try:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self._append, params, prepare=True)
                return [row["position"] for row in curs.fetchall()]
        except PersistenceError as error:
            if getattr(error.__cause__, "sqlstate", None) == KEY_LOST_SQLSTATE:
                raise CommandKeyLostError(
                    "this request's Idempotency-Key was taken over by a newer attempt"
                ) from None
            raise

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
