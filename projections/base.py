"""What every read model shares: rows and tracking in one transaction, batched, announced.

A projection's handlers receive a `ViewSession` (an open cursor) rather than opening their own
transaction, so a catch-up batch of hundreds of events commits once, together with its tracking
record. The commit also announces the new position on a NOTIFY channel, which is what lets the
read API answer `X-Min-Position` within milliseconds instead of polling.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Composed, Identifier

from infra.database import DatabaseAddress
from projections.binary_arrays import bind_encoded_arrays, encode_columns
from projections.storable_text import bind_storable_text

PROGRESS_CHANNEL = "perpetua_projection_progress"
# The pool's connections are in autocommit mode: a snapshot is an explicit transaction.
_BEGIN_SNAPSHOT = SQL("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
_END_SNAPSHOT = SQL("COMMIT")
_ASYNC_COMMIT = SQL("SET LOCAL synchronous_commit TO off")
# A joint transaction (see `process_together`) gives up on a lock after this long rather than
# hold every projection up behind one table (an analyst's lock, a rebuild's swap).
_JOINT_LOCK_TIMEOUT = SQL("SET LOCAL lock_timeout TO '1s'")
_NOTIFY_EACH = SQL("SELECT pg_notify(%s, progress) FROM unnest(%s::text[]) AS progress")
# Batches of at least this many events are written in pipeline mode (see session()).
PIPELINE_FROM = 8
# Statements rendered to bytes, by the identity of their `Composed` (kept alive alongside, so
# that an identity is never reused while its entry lives). A view builds its statements once;
# the bound only guards against a caller that builds one per call.
_RENDERED_MAX = 4096
_rendered: dict[int, tuple[Composed, bytes]] = {}

Statement: TypeAlias = Composed | bytes
Params: TypeAlias = Sequence[Any] | dict[str, Any]


def _render(statement: Statement, cursor: Cursor[DictRow]) -> bytes:
    """`statement` as the bytes psycopg would send, rendered once per statement object.

    psycopg renders a `Composed` again on every execute (`as_bytes`); for a text that never
    changes that was several per cent of a rebuild.
    """
    if isinstance(statement, bytes):
        return statement
    found = _rendered.get(id(statement))
    if found is not None and found[0] is statement:
        return found[1]
    rendered = statement.as_bytes(cursor)
    if len(_rendered) >= _RENDERED_MAX:
        _rendered.clear()
    _rendered[id(statement)] = (statement, rendered)
    return rendered


class ViewSession:
    """One open read-model transaction; `position` is the store position of the current event.

    Every `str` bound on its cursor, through `execute` or `cursor.execute`, is made storable
    first (projections/storable_text.py): old events may hold text PostgreSQL refuses.
    """

    def __init__(self, cursor: Cursor[DictRow]) -> None:
        bind_storable_text(cursor.adapters)
        bind_encoded_arrays(cursor.adapters)
        self.cursor = cursor
        self.position = 0
        # Rows waiting for a set-based statement (see `append`), by statement, in first-use
        # order; and a statement waiting to be run or replaced (see `execute_later`). At most
        # one of the two waits at any time.
        self._rows: dict[bytes, tuple[Sequence[str], list[tuple[Any, ...]]]] = {}
        self._later: tuple[Hashable, bytes, Params] | None = None

    def execute(self, statement: Statement, params: Params) -> None:
        self.flush()
        self.cursor.execute(_render(statement, self.cursor), params)

    def fetchone(self, statement: Statement, params: Params) -> DictRow | None:
        """Run a statement whose row the handler needs now.

        On a cursor of its own: in pipeline mode, results of the session cursor's earlier
        statements may still be on their way, and a fetch on that cursor could be handed one
        of them (an INSERT's) instead of this statement's rows.
        """
        return self._own_cursor(statement, params).fetchone()

    def fetchall(self, statement: Statement, params: Params) -> list[DictRow]:
        """Run a statement whose rows the handler needs now (see `fetchone`)."""
        return self._own_cursor(statement, params).fetchall()

    def _own_cursor(self, statement: Statement, params: Params) -> Cursor[DictRow]:
        self.flush()
        cursor = self.cursor.connection.cursor()
        bind_storable_text(cursor.adapters)
        bind_encoded_arrays(cursor.adapters)
        return cursor.execute(_render(statement, self.cursor), params)

    def execute_later(self, key: Hashable, statement: Statement, params: Params) -> None:
        """Run `statement` before the session's next other statement, unless that is one of
        `execute_beside(key, ...)` (which then runs first) or `execute_later(key, ...)`
        (which replaces this one).

        For a statement that the next one with the same key overwrites entirely, and that
        only reads what the `execute_beside` statements of its key write: a task's counts,
        recounted after each change to its subtasks, are then recounted once after a run of
        such changes (a catch-up applies a task's events one after another), with the same
        result.
        """
        if self._later is None or self._later[0] != key:
            self.flush()
        self._later = (key, _render(statement, self.cursor), params)

    def execute_beside(self, key: Hashable, statement: Statement, params: Params) -> None:
        """Run `statement` now, ahead of the statement waiting under `key` (see
        `execute_later`), which then sees what it wrote."""
        if self._later is None or self._later[0] != key:
            self.flush()
        self.cursor.execute(_render(statement, self.cursor), params)

    def append(self, statement: Statement, row: tuple[Any, ...], types: Sequence[str]) -> None:
        """Add `row` to the rows `statement` writes in one go: its parameters are one array per
        column (`unnest(%b::uuid[], ...)`, of the PostgreSQL `types`, see binary_arrays.py),
        and it runs once for all the rows appended since the session's last other statement,
        before that statement (or the tracking record).

        For rows only ever inserted (a log), where one statement per event was most of the
        cost of a rebuild. Every other statement of the session, read or write, still sees
        the rows appended before it; only the rows of different set-based statements may
        reach their tables in another order than appended, so such statements must not
        depend on each other.
        """
        self.append_all(statement, (row,), types)

    def append_all(
        self, statement: Statement, rows: Sequence[tuple[Any, ...]], types: Sequence[str]
    ) -> None:
        """`append` each of `rows`, in order."""
        if not rows:
            return
        if self._later is not None:
            self.flush()
        key = _render(statement, self.cursor)
        pending = self._rows.get(key)
        if pending is None:
            self._rows[key] = (types, list(rows))
        else:
            pending[1].extend(rows)

    def flush(self) -> None:
        """Run what waits (appended rows, a statement waiting to be replaced) now."""
        if self._later is not None:
            _, statement, params = self._later
            self._later = None
            self.cursor.execute(statement, params)
        if self._rows:
            pending, self._rows = self._rows, {}
            for statement, (types, rows) in pending.items():
                self.cursor.execute(statement, encode_columns(rows, types))


class ReadModelView(PostgresTrackingRecorder):
    """A tracking recorder that owns some tables in its datastore's schema (normally `read`)."""

    projection_name: ClassVar[str]

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        kwargs.setdefault("tracking_table_name", f"{self.projection_name}_tracking")
        super().__init__(datastore, **kwargs)
        self.schema = Identifier(self.datastore.schema)
        # The view's own tables (the tracking table aside), for rebuilds to move them.
        self.table_names: list[str] = []
        # Indexes only the read side's queries use (see `reader_index`).
        self.reader_indexes: list[Composed] = []
        self._notify = SQL("SELECT pg_notify(%s, %s)")
        self._updates: dict[tuple[int, tuple[str, ...]], Composed] = {}

    def table(self, name: str) -> Composed:
        self.check_identifier_length(name)
        self.table_names.append(name)
        return SQL("{}.{}").format(self.schema, Identifier(name))

    def reader_index(self, statement: Composed) -> None:
        """An index that only reads use (the read API's queries, analysts'), never the
        projection's own statements: `create_table` makes it after the tables, except for a
        rebuild, which builds it once its tables are full (decision 99)."""
        self.reader_indexes.append(statement)

    def create_table(self, *, reader_indexes: bool = True) -> None:
        """The tables and tracking, then (unless `reader_indexes` is false) the reader
        indexes. A rebuild leaves those for `create_reader_indexes` after its replay: one
        sorted pass over a full table costs the server far less than keeping an index up to
        date through every insert (and every update, which an indexed column then makes a new
        row version in each index) of a million events, while the replaying process waits."""
        super().create_table()
        if reader_indexes:
            self.create_reader_indexes()

    def create_reader_indexes(self) -> None:
        if not self.reader_indexes:
            return  # most views: no transaction for nothing at every start
        with self.datastore.transaction(commit=True) as cursor:
            for statement in self.reader_indexes:
                cursor.execute(statement)

    def settle(self) -> None:
        """VACUUM (ANALYZE) the view's tables and tracking: planner statistics and a
        visibility map for tables just filled (see `_finish_tables` in projectors/rebuild.py)."""
        tables = [*self.table_names, self.tracking_table_name]
        with self.datastore.get_connection() as conn:  # autocommit: VACUUM runs on its own
            conn.execute(
                SQL("VACUUM (ANALYZE) {}").format(
                    SQL(", ").join(SQL("{}.{}").format(self.schema, Identifier(t)) for t in tables)
                )
            )

    @contextmanager
    def session(self, tracking: Tracking, *, pipelined: bool = False) -> Iterator[ViewSession]:
        """Rows written in the block commit with `tracking`, or not at all.

        `pipelined`: send the statements in pipeline mode, without waiting for each answer,
        so that a catch-up batch of hundreds of events costs a few round trips, not one per
        statement. A statement that fails is reported at the next sync (a fetch, or the
        tracking insert at the end) and rolls the whole batch back all the same. For one or
        two events the pipeline's own bookkeeping costs more than it saves.
        """
        with read_model_transaction(self.datastore, pipelined=pipelined) as cursor:
            session = ViewSession(cursor)
            yield session
            session.flush()
            self.track(cursor, tracking)

    def update_row(
        self,
        session: ViewSession,
        table: Composed,
        row_id: UUID,
        columns: Mapping[str, Any],
        *,
        version: int,
        at: datetime,
    ) -> None:
        """Set `columns` of row `row_id`, with the aggregate version, time and position."""
        names = tuple(sorted(columns))
        key = (id(table), names)
        statement = self._updates.get(key)
        if statement is None:
            # Built once per table and set of columns (the table lives as long as the view).
            assignments: list[Composable] = [
                SQL("{} = %({})s").format(Identifier(name), SQL(name)) for name in names
            ]
            assignments.append(
                SQL("version = %(version)s, updated_at = %(at)s, last_position = %(position)s")
            )
            statement = SQL("UPDATE {} SET {} WHERE id = %(id)s").format(
                table, SQL(", ").join(assignments)
            )
            self._updates[key] = statement
        params = {**columns, "version": version, "at": at, "position": session.position}
        session.execute(statement, {**params, "id": row_id})

    def track(self, cursor: Cursor[DictRow], tracking: Tracking) -> None:
        """Record `tracking` in the cursor's transaction, and announce it on commit."""
        # Raises IntegrityError (rolling everything back) if this position was applied.
        self.check_tracked(self.send_tracking(cursor, tracking), tracking)
        cursor.execute(self._notify, (PROGRESS_CHANNEL, self.progress_of(tracking)))

    def progress_of(self, tracking: Tracking) -> str:
        """The NOTIFY payload announcing `tracking`: what the read API waits on."""
        return f"{self.projection_name}:{tracking.notification_id}"

    def send_tracking(self, cursor: Cursor[DictRow], tracking: Tracking) -> Cursor[DictRow]:
        """Upsert `tracking` in the cursor's transaction without waiting for the answer (in
        pipeline mode); `check_tracked` reads it. On a cursor of its own, whose row is the
        upsert's (see ViewSession.fetchone)."""
        self._check_has_multi_row_tracking_table(cursor)
        upsert = cursor.connection.cursor()
        params = {
            "application_name": tracking.application_name,
            "notification_id": tracking.notification_id,
        }
        upsert.execute(self.insert_tracking_statement, params, prepare=True)
        return upsert

    def check_tracked(self, upsert: Cursor[DictRow], tracking: Tracking) -> None:
        """Raise IntegrityError unless `send_tracking`'s upsert moved the position forward."""
        if self.datastore.single_row_tracking and upsert.fetchone() is None:
            msg = f"{self.projection_name} is already at or past {tracking.notification_id}"
            raise IntegrityError(msg)

    @contextmanager
    def snapshot(self) -> Iterator[Cursor[DictRow]]:
        """A read-only, repeatable-read transaction: rows and position from one instant."""
        with self.datastore.get_connection() as conn, conn.transaction(force_rollback=True):
            cursor = conn.cursor()
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield cursor

    def position_in(self, cursor: Cursor[DictRow], application_name: str) -> int:
        return self._max_tracking_id(application_name, cursor) or 0

    def read_at_position(
        self, application_name: str, *queries: tuple[Composed, Sequence[Any] | dict[str, Any]]
    ) -> tuple[list[list[DictRow]], int]:
        """The rows of `queries` and the position they reflect, from one snapshot, in one
        round trip: the statements go as one pipeline inside a read-only, repeatable-read
        transaction (what `snapshot()` gives with a round trip per statement)."""
        with self.datastore.get_connection() as conn:
            with conn.pipeline():
                conn.execute(_BEGIN_SNAPSHOT)
                cursors = [conn.execute(statement, params) for statement, params in queries]
                position = conn.execute(self._position_statement, (application_name,))
                conn.execute(_END_SNAPSHOT)
            found = position.fetchone()
            return [c.fetchall() for c in cursors], (found["position"] if found else 0) or 0

    @property
    def _position_statement_named(self) -> Composed:
        """The position as a scalar subquery, for `%(application_name)s`."""
        return SQL(
            "SELECT max(notification_id) FROM {}.{} WHERE application_name = %(application_name)s"
        ).format(self.schema, Identifier(self.tracking_table_name))

    @property
    def _position_statement(self) -> Composed:
        return SQL(
            "SELECT max(notification_id) AS position FROM {}.{} WHERE application_name = %s"
        ).format(self.schema, Identifier(self.tracking_table_name))


TView = TypeVar("TView", bound=ReadModelView)
# A handler as found on the class: called with the projection, the event and the session.
Handler: TypeAlias = Callable[[Any, Any, ViewSession], None]


class ReadModelProjection(Projection[TView], Generic[TView]):
    """Maps events to rows. Handlers are `<aggregate>_<event>(event, session)`.

    Each subclass declares its own `@singledispatchmethod apply` whose default does nothing:
    events a read model doesn't show still advance its tracking with the batch. (Registering
    on an inherited dispatcher would register for every sibling projection too.)

    Events are dispatched through a table per projection class (event class -> handler, or
    None for the default), filled on the first event of each class: `singledispatchmethod`
    builds a bound method on every call, a fifth of a rebuild's time. So the default is not
    called at all; it must do nothing. A subclass may instead define `apply` as a plain
    method; it is then called for every event.
    """

    # Per projection class: event class -> handler (None: the event shows nothing here).
    _handlers: ClassVar[dict[type[Any], Handler | None]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {}

    def apply(self, domain_event: Any, session: ViewSession) -> None:
        raise NotImplementedError

    @classmethod
    def handler_for(cls, event_class: type[Any]) -> Handler | None:
        """What `apply` does with an event of `event_class` (None: nothing)."""
        if event_class in cls._handlers:
            return cls._handlers[event_class]
        apply = inspect.getattr_static(cls, "apply")
        handler: Handler | None
        if isinstance(apply, functools.singledispatchmethod):
            cls.apply  # noqa: B018 (the library's dispatcher registers deferred handlers here)
            chosen = apply.dispatcher.dispatch(event_class)
            handler = None if chosen is apply.func else chosen
        else:
            handler = cls.apply
        cls._handlers[event_class] = handler
        return handler

    def shows(self, domain_event: Any) -> bool:
        """Whether `apply` does anything with `domain_event` (by its class)."""
        return self.handler_for(type(domain_event)) is not None

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([(domain_event, tracking.notification_id)], tracking)

    def process_batch(self, events: Sequence[tuple[Any, int]], tracking: Tracking) -> None:
        """Apply (event, position) pairs in one transaction that ends at `tracking`."""
        with self.view.session(tracking, pipelined=len(events) >= PIPELINE_FROM) as session:
            self.apply_all(events, session)

    def apply_all(self, events: Sequence[tuple[Any, int]], session: ViewSession) -> None:
        handlers = self._handlers
        for domain_event, position in events:
            try:
                handler = handlers[type(domain_event)]
            except KeyError:
                handler = self.handler_for(type(domain_event))
            if handler is not None:
                session.position = position
                handler(self, domain_event, session)
        session.flush()


@contextmanager
def read_model_transaction(
    datastore: PostgresDatastore, *, pipelined: bool = False
) -> Iterator[Cursor[DictRow]]:
    """A transaction on the read model that commits without waiting for the disk.

    Rows and tracking still commit together, in order; only the wait for the disk is skipped.
    A crash of the server may lose the last moments of projection work, and the projector then
    redoes it from the tracking row that was lost with it: exactly once all the same. Commands
    keep waiting for the disk. `pipelined`: see `ReadModelView.session`.
    """
    with datastore.transaction(commit=True) as cursor:
        cursor.execute(_ASYNC_COMMIT)
        if pipelined:
            with cursor.connection.pipeline():
                yield cursor
        else:
            yield cursor


# What `process_together` applies for one projection: its events (with their positions) and
# the tracking record they end at.
JointPart: TypeAlias = tuple[ReadModelProjection[Any], Sequence[tuple[Any, int]], Tracking]


def process_together(parts: Sequence[JointPart]) -> None:
    """Apply several projections' events, each ending at its own tracking record, in one
    transaction, sent as one pipeline, with one NOTIFY statement for all their positions.

    For the live projector, where a batch is an event or two: each projection in a
    transaction of its own cost a BEGIN, a tracking upsert, a NOTIFY and a COMMIT, each
    waited for, ten times per event, far more than the rows themselves. All or nothing: if
    one projection fails (or waits more than a second for a lock), none commits, and the
    caller applies them one by one, each in its own transaction.
    """
    datastore = parts[0][0].view.datastore
    assert all(projection.view.datastore is datastore for projection, _, _ in parts)
    with read_model_transaction(datastore, pipelined=True) as cursor:
        cursor.execute(_JOINT_LOCK_TIMEOUT)
        # One session for all: each projection's `apply_all` flushes what it left waiting.
        session = ViewSession(cursor)
        sent = []
        for projection, events, tracking in parts:
            view = projection.view
            projection.apply_all(events, session)
            sent.append((view, tracking, view.send_tracking(cursor, tracking)))
        progress = [view.progress_of(tracking) for view, tracking, _ in sent]
        cursor.execute(_NOTIFY_EACH, (PROGRESS_CHANNEL, progress))
        for view, tracking, upsert in sent:
            view.check_tracked(upsert, tracking)  # the first fetch sends the pipeline


def open_datastore(
    address: DatabaseAddress, schema: str, *, pool_size: int = 1, max_overflow: int = 9
) -> PostgresDatastore:
    """A connection pool on `schema` of the service database, for views and their readers.

    `pool_size` connections stay open; up to `max_overflow` more are opened under load.
    """
    return PostgresDatastore(
        dbname=address.dbname,
        host=address.host,
        port=address.port,
        user=address.user,
        password=address.password,
        schema=schema,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # A read waiting for a connection should fail fast rather than hang the request.
        connect_timeout=10.0,
        idle_in_transaction_session_timeout=5.0,
    )


def close_views(views: Mapping[str, ReadModelView]) -> None:
    """Close the connection pools under the views (a shared one once)."""
    for datastore in {id(v.datastore): v.datastore for v in views.values()}.values():
        datastore.close()
