"""The event store's recorder, stamping each appended event with the request that caused it.

`events.<app>_event_requests(notification_id, request_id)` is written in the same transaction
as the events themselves (the library's insert), so an event and its request id are recorded
together or not at all. Events appended outside a request (scripts, schedulers) get no row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from infra.request_context import current_request_id

RECORDER_TOPIC = "infra.event_store:RequestStampingRecorder"


class RequestStampingRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.requests_table_name = events_table_name.removesuffix("_events") + "_event_requests"
        self.check_identifier_length(self.requests_table_name)
        table = SQL("{}.{}").format(
            Identifier(self.datastore.schema), Identifier(self.requests_table_name)
        )
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

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        request_id = current_request_id.get()
        if ids and request_id is not None:
            curs.execute(self._stamp, (list(ids), request_id))
        return ids
