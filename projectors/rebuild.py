"""Rebuild a projection by replaying the store, then swap it in: blue/green, no downtime.

1. Fresh tables (and tracking) are built in a scratch schema `rebuild_<name>` by replaying
   the whole store, a transaction per page of BATCH_SIZE events, while the live tables keep
   serving reads and the live projector keeps following the store. Then the indexes only
   reads use are built, and the tables vacuumed and analyzed, ready to serve.
2. The swap is one transaction: lock the live tables (data tables first, then tracking: the
   order the projector writes them, so the two never deadlock), apply the few events that
   arrived meanwhile, then move the live tables out to `retired_<name>` and the new ones into
   `read`. Readers wait for that instant only; then they read the new tables by the same names.
3. The live projector's next batch finds the tracking row ahead of it, rolls back, and resumes
   from the new position: exactly once throughout.

Events an operator told the projection to skip (`read.projection_skips`) are skipped here too,
so a rebuild equals what the live projector shows.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.postgres import PostgresApplicationRecorder
from mypy_extensions import mypyc_attr
from psycopg import Cursor
from psycopg.pq import ConnStatus
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from infra.database import READ_SCHEMA, DatabaseAddress
from projections.base import (
    PIPELINE_FROM,
    ReadModelProjection,
    ReadModelView,
    ViewSession,
    open_datastore,
)
from projections.failures import ProjectionFailures
from projectors.event_decoding import EventDecoder

logger = logging.getLogger(__name__)

# Events per page and per transaction of a replay: catch-up of a whole store, where bigger
# batches mean fewer commits (the live projector's batches are what the subscription pulled).
# 7,500 measured ~5-10% faster than 5,000 on a 1M store for ~15 MB more at the peak (~125 MB);
# 10,000 no faster there, for ~30 MB more (decision 93).
BATCH_SIZE = 7500
# Only one rebuild of a projection at a time: pg_try_advisory_lock(this, hashtext(name)).
REBUILD_LOCK_CLASS = 0x5245_4255  # "REBU"

# Allocations between two collections of the youngest generation during a replay (Python's
# default is 700; see _fewer_collections).
YOUNG_COLLECTION_EVERY = 100_000
# The application_name of the connection a rebuild reads the store on.
STORE_PAGES_CONNECTION = "perpetua-rebuild-pages"
# Events decoded between two moves of the connections' traffic (see _Traffic).
MOVE_EVERY = 1000

Progress = Callable[[int, int], None]  # (position reached, store head)


@mypyc_attr(native_class=False)  # a builtin's subclass, where compiled (infra/compiled.py)
class RebuildInProgressError(RuntimeError):
    """Another rebuild of the same projection is running."""


@dataclass(frozen=True)
class RebuildReport:
    projection: str
    position: int
    events: int


def rebuild(
    app: Application[Any],
    address: DatabaseAddress,
    projection_class: type[ReadModelProjection[Any]],
    view_class: type[ReadModelView],
    *,
    on_progress: Progress = lambda position, head: None,
) -> RebuildReport:
    (report,) = rebuild_together(
        app, address, [(projection_class, view_class)], on_progress=on_progress
    )
    return report


def rebuild_together(
    app: Application[Any],
    address: DatabaseAddress,
    chosen: Sequence[tuple[type[ReadModelProjection[Any]], type[ReadModelView]]],
    *,
    on_progress: Progress = lambda position, head: None,
) -> list[RebuildReport]:
    """Rebuild several projections from one read of the store: each page of events is
    fetched and decoded once and applied to every projection (each in its own transaction),
    then each projection is swapped in on its own."""
    names = [projection_class.name for projection_class, _ in chosen]
    with psycopg.connect(address.conninfo, autocommit=True) as guard:
        for name in names:
            claimed = guard.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (REBUILD_LOCK_CLASS, name)
            ).fetchone()
            if not claimed or not claimed[0]:
                msg = f"a rebuild of {name} is already running"
                raise RebuildInProgressError(msg)
        rebuilds: list[_Rebuild] = []
        try:
            for projection_class, view_class in chosen:
                name = projection_class.name
                for schema in (f"rebuild_{name}", f"retired_{name}"):
                    guard.execute(
                        SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema))
                    )
                guard.execute(SQL("CREATE SCHEMA {}").format(Identifier(f"rebuild_{name}")))
                view = view_class(open_datastore(address, f"rebuild_{name}", pool_size=1))
                rebuilds.append(_Rebuild(projection_class(view), _skipped(address, name)))
                view.create_table(reader_indexes=False)
            with _fewer_collections():
                position, events = _replay(app, address, rebuilds, on_progress)
            _finish_tables(guard, rebuilds)
            reports = []
            for item in rebuilds:
                name = item.projection.name
                swapped, applied = _swap(
                    app, item.projection, item.skipped, f"rebuild_{name}", f"retired_{name}",
                    position, events,
                )  # fmt: skip
                reports.append(RebuildReport(projection=name, position=swapped, events=applied))
                logger.info("rebuilt projection %s to position %d (%d events)", name, swapped,
                            applied)  # fmt: skip
        finally:
            for item in rebuilds:
                item.projection.view.datastore.close()
        # One statement, one commit (a statement per schema was twenty commits).
        schemas = [f"{kind}_{name}" for name in names for kind in ("retired", "rebuild")]
        guard.execute(
            SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                SQL(", ").join(Identifier(schema) for schema in schemas)
            )
        )
    return reports


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cycle collector, tuned for a replay: what exists before it (the modules, the
    application) is frozen out of every collection, and the youngest generation is collected
    every 100,000 allocations instead of every 700.

    A replay allocates millions of short-lived containers (events, their state, rows), freed
    by reference counting; the collector, started by their number alone, kept walking the
    whole heap: a fifth of a rebuild's time. Collections still happen, so cycles (rare here)
    are still freed; peak memory measured the same either way.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@dataclass(frozen=True)
class _Rebuild:
    projection: ReadModelProjection[Any]
    skipped: frozenset[int]


def _skipped(address: DatabaseAddress, name: str) -> frozenset[int]:
    datastore = open_datastore(address, READ_SCHEMA, pool_size=1, max_overflow=0)
    try:
        failures = ProjectionFailures(datastore)
        failures.create_table()
        return failures.skipped(name)
    finally:
        datastore.close()


def _replay(
    app: Application[Any],
    address: DatabaseAddress,
    rebuilds: Sequence[_Rebuild],
    on_progress: Progress,
) -> tuple[int, int]:
    """Apply the whole store to the scratch tables; returns (position, events applied).

    Each projection's page is sent as a pipeline and left open while the other projections'
    pages are sent and the next page is decoded; it is finished (answers read, committed) just
    before the same projection's next page. So PostgreSQL writes one projection's rows while
    this process works on the others, instead of each side waiting for the other in turn.
    """
    position, events = 0, 0
    skipped_by_any = frozenset().union(*(item.skipped for item in rebuilds))
    traffic = _Traffic()
    recorder = app.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    decoder = EventDecoder(app.mapper)
    hand_out = _Handout([item.projection for item in rebuilds])
    sent: dict[str, contextlib.ExitStack] = {}  # by projection: its page still open
    held: dict[str, list[tuple[Any, int]]] = {item.projection.name: [] for item in rebuilds}
    tracked: dict[str, int] = {}  # by projection: the position its last page tracked
    # A projection's share is written once it holds half a page of events (or at the end):
    # most projections show a few events of a page, and a transaction for each page would
    # cost its round trips for nothing (~2.5 ms a page for each of eight such projections,
    # a tenth of a rebuild's time).
    share_from = max(1, BATCH_SIZE // 2)

    def send(item: _Rebuild, tracking: Tracking) -> None:
        name = item.projection.name
        if name in sent:
            sent.pop(name).close()
        sent[name] = _send(item.projection, held[name], tracking, traffic)
        held[name], tracked[name] = [], tracking.notification_id
        traffic.move()

    try:
        with StorePages(address, recorder, start=0) as pages:
            traffic.add(STORE_PAGES_CONNECTION, pages.connection)
            for batch in pages:
                decoded: list[tuple[Any, int]] = []
                for start in range(0, len(batch), MOVE_EVERY):
                    decoded += _decoded(decoder, batch[start : start + MOVE_EVERY], skipped_by_any)
                    traffic.move()
                shares = hand_out(decoded)
                tracking = Tracking(app.name, batch[-1].id)
                for item, mine in zip(rebuilds, shares, strict=True):
                    if item.skipped != skipped_by_any:
                        # Rarely, an event only some projections skip: decode for the others.
                        everything = _decoded(decoder, batch, item.skipped)
                        mine = [pair for pair in everything if item.projection.shows(pair[0])]
                    held[item.projection.name].extend(mine)
                    if len(held[item.projection.name]) >= share_from:
                        send(item, tracking)
                position, events = batch[-1].id, events + len(batch)
                on_progress(position, max(pages.head(), position))
        # Every projection's last page: the events it still holds, tracked at the store's end
        # (which the swap starts from).
        for item in rebuilds:
            if position and tracked.get(item.projection.name) != position:
                send(item, Tracking(app.name, position))
        while sent:
            sent.pop(next(iter(sent))).close()
    except BaseException:
        # Roll back the pages still open; what failed is what the caller hears about (a
        # rollback on a broken connection raises too, a consequence, not the cause).
        for page in sent.values():
            with contextlib.suppress(Exception):
                page.__exit__(*sys.exc_info())
        raise
    return position, events


class _Handout:
    """A page's events, shared out among the projections that show them: each projection's
    loop then runs over its own events (the task list's task events, every event for the
    activity log) instead of every projection looking every event up, ten lookups per event.
    The others are nothing to a projection but a position, which its tracking row records."""

    def __init__(self, projections: Sequence[ReadModelProjection[Any]]) -> None:
        self._projections = projections
        self._takers: dict[type[Any], tuple[int, ...]] = {}  # event class -> projections

    def __call__(self, events: Sequence[tuple[Any, int]]) -> list[list[tuple[Any, int]]]:
        shares: list[list[tuple[Any, int]]] = [[] for _ in self._projections]
        takers = self._takers
        for pair in events:
            found = takers.get(type(pair[0]))
            if found is None:
                found = takers[type(pair[0])] = tuple(
                    index
                    for index, projection in enumerate(self._projections)
                    if projection.shows(pair[0])
                )
            for index in found:
                shares[index].append(pair)
        return shares


def _send(
    projection: ReadModelProjection[Any],
    events: Sequence[tuple[Any, int]],
    tracking: Tracking,
    traffic: _Traffic,
) -> contextlib.ExitStack:
    """Apply `events` in a transaction ending at `tracking`, and leave it open: closing the
    returned stack waits for the server's answers and commits (or raises, rolled back)."""
    with contextlib.ExitStack() as stack:
        pipelined = len(events) >= PIPELINE_FROM
        session = stack.enter_context(projection.view.session(tracking, pipelined=pipelined))
        projection.apply_all(events, session)
        traffic.add(projection.name, session.cursor.connection)
        return stack.pop_all()


class _Traffic:
    """The replay's connections, kept moving between the steps of a page.

    In pipeline mode libpq writes what a socket takes and keeps the rest until the connection
    is used again, and a server's answer waits in the socket until it is read. Through a Unix
    socket (~200 KB of buffer, where TCP on loopback grows to megabytes) a projection's page
    stayed mostly unsent until its answers were awaited, and the store's next page mostly
    unread until it was wanted: PostgreSQL then worked while this process waited, not
    meanwhile (~5 s more for a 1M rebuild than through TCP). A move writes and reads what each
    socket takes at that moment, never waiting (psycopg opens every connection non-blocking);
    the answers read are kept by libpq for the pipeline or cursor that awaits them.
    """

    def __init__(self) -> None:
        self._connections: dict[str, psycopg.Connection[Any]] = {}

    def add(self, name: str, connection: psycopg.Connection[Any]) -> None:
        self._connections[name] = connection

    def move(self) -> None:
        for connection in self._connections.values():
            pgconn = connection.pgconn
            if pgconn.status == ConnStatus.OK:
                pgconn.flush()
                pgconn.consume_input()


class StoredRow(NamedTuple):
    """An event as a page holds it: a row of the events table (a `Notification` is a frozen
    dataclass, several times dearer to make, 200k times in a rebuild of 200k events)."""

    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


_stored_row = functools.partial(tuple.__new__, StoredRow)


class StorePages:
    """The store after `start`, page by page (BATCH_SIZE events). Each page's query is sent as
    soon as the page before has arrived, in pipeline mode: PostgreSQL reads and sends the next
    page while this process applies the current one, and the page is taken in when it is
    needed, on the same thread. (A thread reading ahead cost as much as it saved: its work on
    each page's rows contended for the interpreter with the projections' work.) Rows in binary,
    as `StoredRow` tuples: the library's own `select_notifications` builds a dict per row first
    and then a `Notification`, a tenth of a rebuild's time.

    Use as a context manager; iterate once.
    """

    def __init__(
        self, address: DatabaseAddress, recorder: PostgresApplicationRecorder, *, start: int
    ) -> None:
        self._conninfo = address.conninfo
        table = SQL("{}.{}").format(
            Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
        )
        self._page = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
            " WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(table)
        self._head = SQL("SELECT max(notification_id) FROM {}").format(table)
        self._start = start
        self._conn: psycopg.Connection[Any] | None = None
        self._pages: Generator[list[StoredRow], None, None] | None = None
        self._latest_head = 0

    def __enter__(self) -> StorePages:
        # Named, for an operator looking at pg_stat_activity.
        self._conn = psycopg.connect(
            self._conninfo, autocommit=True, application_name=STORE_PAGES_CONNECTION
        )
        self._pages = self._read(self._conn)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pages is not None:
            self._pages.close()  # leaves the pipeline while the connection is still open
        if self._conn is not None:
            self._conn.close()

    def __iter__(self) -> Iterator[list[StoredRow]]:
        assert self._pages is not None, "use StorePages as a context manager"
        return self._pages

    def _read(self, conn: psycopg.Connection[Any]) -> Generator[list[StoredRow], None, None]:
        with conn.pipeline():
            # Binary: the states arrive as they are stored, not in hex to decode.
            rows, head = conn.cursor(binary=True), conn.cursor()
            rows.execute(self._page, (self._start, BATCH_SIZE))
            head.execute(self._head)
            while page := rows.fetchall():
                found = head.fetchone()
                self._latest_head = int(found[0]) if found and found[0] else 0
                # The next page's query goes now: PostgreSQL reads it while this one is applied.
                rows.execute(self._page, (page[-1][0], BATCH_SIZE))
                head.execute(self._head)
                # tuple.__new__ as StoredRow._make calls it, without its Python frame.
                yield list(map(_stored_row, page))

    def head(self) -> int:
        """The store's head when the latest page was read (for progress reports)."""
        return self._latest_head

    @property
    def connection(self) -> psycopg.Connection[Any]:
        assert self._conn is not None, "use StorePages as a context manager"
        return self._conn


def _swap(
    app: Application[Any],
    projection: ReadModelProjection[Any],
    skipped: frozenset[int],
    scratch: str,
    retired: str,
    position: int,
    events: int,
) -> tuple[int, int]:
    view = projection.view
    tables = [*view.table_names, view.tracking_table_name]
    with view.datastore.transaction(commit=True) as cursor:
        live = _existing(cursor, tables)
        for table in live:
            cursor.execute(
                SQL("LOCK TABLE {}.{} IN ACCESS EXCLUSIVE MODE").format(
                    Identifier(READ_SCHEMA), Identifier(table)
                )
            )
        # With the live projector held, whatever arrived during the replay goes in now.
        replayed_to = position
        decoder = EventDecoder(app.mapper)
        while batch := app.recorder.select_notifications(
            start=position, limit=BATCH_SIZE, inclusive_of_start=False
        ):
            projection.apply_all(_decoded(decoder, batch, skipped), ViewSession(cursor))
            position, events = batch[-1].id, events + len(batch)
        if position > replayed_to:
            view.track(cursor, Tracking(app.name, position))
        cursor.execute(SQL("CREATE SCHEMA {}").format(Identifier(retired)))
        for table in live:
            cursor.execute(
                SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                    Identifier(READ_SCHEMA), Identifier(table), Identifier(retired)
                )
            )
        for table in tables:
            cursor.execute(
                SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                    Identifier(scratch), Identifier(table), Identifier(READ_SCHEMA)
                )
            )
    return position, events


def _finish_tables(guard: psycopg.Connection[Any], rebuilds: Sequence[_Rebuild]) -> None:
    """Make the replayed tables ready to serve before they are swapped in: their reader
    indexes built (see `ReadModelView.reader_index`) and the tables settled (VACUUM (ANALYZE),
    `ReadModelView.settle`), two views at a time on their own connections: each step is one
    server process working while this process waits, and a small machine has two cores.

    Tables just filled have no planner statistics and no visibility map: until autovacuum
    gets to them (on a server where it runs at all) the read API and analysts' queries are
    planned blind, every first read of a page writes its hint bits, and the autovacuum that
    comes, a minute or so after the swap, works through the whole tables while they serve.

    VACUUM marks a row's commit, and its page all-visible, only once the commit is on disk,
    and the replay's commits did not wait for it (`async_transaction`). So the tracking
    tables' statistics go first (each holds its row, so ANALYZE writes them) in a commit that
    waits for the disk, and so puts every commit before it there (decision 100).
    """
    views = [item.projection.view for item in rebuilds]
    trackings = [
        SQL("{}.{}").format(view.schema, Identifier(view.tracking_table_name)) for view in views
    ]
    with guard.transaction():
        guard.execute("SET LOCAL synchronous_commit TO on")
        guard.execute(SQL("ANALYZE {}").format(SQL(", ").join(trackings)))

    def finish(view: ReadModelView) -> None:
        view.create_reader_indexes()
        view.settle()

    with ThreadPoolExecutor(2) as workers:
        for finished in [workers.submit(finish, view) for view in views]:
            finished.result()


def _existing(cursor: Cursor[DictRow], tables: Sequence[str]) -> list[str]:
    """The live tables in lock order (data tables first); none on a first run."""
    found = []
    for table in tables:
        row = cursor.execute(
            "SELECT to_regclass(%s) AS oid", (f"{READ_SCHEMA}.{table}",)
        ).fetchone()
        if row is not None and row["oid"] is not None:
            found.append(table)
    return found


def _decoded(
    decoder: EventDecoder, batch: Sequence[StoredRow | Notification], skipped: frozenset[int]
) -> list[tuple[Any, int]]:
    return [(decoder.decode(note), note.id) for note in batch if note.id not in skipped]
