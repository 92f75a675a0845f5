"""The activity log: one row per event of a user, for the user and for auditors.

Table `read.activity`. Complete by construction: the projection follows every event of the
store, and each one belongs to a user: the owner named by its aggregate's first event
(`Task.Created.owner_id`, `AuthSession.Started.user_id`, ...), remembered in
`read.activity_owners`. The request that appended the event comes from the store's own
stamp table, written in the same transaction as the event.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, NamedTuple
from uuid import UUID

from mypy_extensions import mypyc_attr
from psycopg.sql import SQL, Composable, Composed, Identifier

from infra.database import EVENT_STORE_NAME, EVENTS_SCHEMA
from projections.base import ReadModelProjection, ReadModelView, ViewSession
from projections.cursors import cut_page, decode_cursor

# The module-level names used for each event are Final: C variables where this module is
# compiled, not lookups in the module's dictionary (see binary_arrays.py).
COLUMNS = (
    "position, occurred_at, actor, entity_type, entity_id, action, summary, request_id,"
    " event_type, version"
)
EXPORT_COLUMNS = tuple(column.strip() for column in COLUMNS.split(","))
# The types of the set-based statements' columns (their `unnest` arrays), in order.
_OWN_TYPES = ("uuid", "uuid")
_RECORD_TYPES = (
    "bigint", "uuid", "timestamptz", "text", "uuid", "text", "text", "text", "integer"
)  # fmt: skip
# Owners remembered, in each of two generations: at most twice this many (a few MB). Not
# Final: a test makes it small.
OWNER_CACHE_SIZE = 32_768
# Events about a part of their aggregate (a task's subtask, note or reminder; a notification)
# name the part, not the aggregate, as their entity.
_PART_EVENT: Final = re.compile(r"^(Subtask|Note|Notification|Reminder)s?(\w+)$")
# The words that say what an event was about: the first of these it has.
_NAMING_FIELDS: Final = ("title", "name", "reason", "event_type")


@dataclass(frozen=True)
class ActivityQuery:
    user_id: UUID
    entity_type: str | None = None
    entity_id: UUID | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    newest_first: bool = True
    cursor: str | None = None
    limit: int = 50

    @property
    def order(self) -> str:
        return "-position" if self.newest_first else "position"


@dataclass(frozen=True)
class ActivityPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    position: int


# Classes derived from the library's are plain Python classes, also where this module is compiled
# (infra/compiled.py): mypyc's own classes cannot extend them.
@mypyc_attr(native_class=False)
class ActivityView(ReadModelView):
    projection_name: ClassVar[str] = "activity"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        activity, owners = self.table("activity"), self.table("activity_owners")
        self.activity_table = activity
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " position bigint PRIMARY KEY,"
                " user_id uuid NOT NULL,"
                " occurred_at timestamptz NOT NULL,"
                " actor text NOT NULL,"
                " entity_type text NOT NULL,"
                " entity_id uuid NOT NULL,"
                " action text NOT NULL,"
                " summary text NOT NULL,"
                " request_id text,"
                " event_type text NOT NULL,"
                " version integer NOT NULL)"
            ).format(activity)
        )
        self.reader_index(
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (user_id, position)").format(
                Identifier("activity_user_idx"), activity
            )
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (entity_id uuid PRIMARY KEY, user_id uuid NOT NULL)"
            ).format(owners)
        )
        stamps = SQL("{}.{}").format(
            Identifier(EVENTS_SCHEMA), Identifier(f"{EVENT_STORE_NAME}_event_requests")
        )
        # Both written set-based: the rows of a batch are appended to the session and go in
        # with one statement each (the log's rows are only ever inserted; an owner only once).
        # The arrays are sent in binary (`%b`): psycopg writes their text form in Python, at
        # several times the cost.
        self._own = SQL(
            "INSERT INTO {} SELECT * FROM unnest(%b::uuid[], %b::uuid[]) ON CONFLICT DO NOTHING"
        ).format(owners)
        self._owner = SQL("SELECT user_id FROM {} WHERE entity_id = %s").format(owners)
        # The actor is the owner (only owners change their data today): written by the
        # statement from the user's id rather than sent as text with every row.
        self._insert = SQL(
            "INSERT INTO {activity} (position, user_id, occurred_at, actor, entity_type,"
            " entity_id, action, summary, request_id, event_type, version)"
            " SELECT r.position, r.user_id, r.occurred_at, r.user_id::text, r.entity_type,"
            " r.entity_id, r.action, r.summary,"
            " (SELECT request_id FROM {stamps} WHERE notification_id = r.position),"
            " r.event_type, r.version"
            " FROM unnest(%b::bigint[], %b::uuid[], %b::timestamptz[], %b::text[],"
            " %b::uuid[], %b::text[], %b::text[], %b::text[], %b::integer[])"
            " AS r(position, user_id, occurred_at, entity_type, entity_id, action,"
            " summary, event_type, version)"
        ).format(activity=activity, stamps=stamps)

    def own(self, session: ViewSession, entity_id: UUID, user_id: UUID) -> None:
        session.append(self._own, (entity_id, user_id), _OWN_TYPES)

    def owner_of(self, session: ViewSession, entity_id: UUID) -> UUID | None:
        row = session.fetchone(self._owner, (entity_id,))
        return row["user_id"] if row else None

    def record(self, session: ViewSession, rows: Sequence[tuple[Any, ...]]) -> None:
        """Add events' rows to the log: each its position and then an `ActivityRow`'s columns."""
        session.append_all(self._insert, rows, _RECORD_TYPES)

    # -- reads --------------------------------------------------------------------------------

    def page(self, query: ActivityQuery, application_name: str) -> ActivityPage:
        statement, params = self._select(query, limit=query.limit + 1)
        with self.snapshot() as cursor:
            rows = cursor.execute(statement, params).fetchall()
            position = self.position_in(cursor, application_name)
        rows, next_cursor = cut_page(rows, query.limit, query.order, "position", row_id=None)
        return ActivityPage(rows=rows, next_cursor=next_cursor, position=position)

    def export(self, user_id: UUID, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every row of the user, oldest first, read in batches from one snapshot."""
        statement, params = self._select(
            ActivityQuery(user_id=user_id, newest_first=False), limit=None
        )
        with self.snapshot() as cursor:
            cursor.execute(statement, params)
            while rows := cursor.fetchmany(batch_size):
                yield from rows

    def _select(self, query: ActivityQuery, limit: int | None) -> tuple[Composed, dict[str, Any]]:
        conditions: list[Composable] = [SQL("user_id = %(user_id)s")]
        params: dict[str, Any] = {"user_id": query.user_id, "limit": limit}
        for column, value, operator in (
            ("entity_type", query.entity_type, "="),
            ("entity_id", query.entity_id, "="),
            ("occurred_at", query.occurred_from, ">="),
            ("occurred_at", query.occurred_to, "<"),
        ):
            if value is not None:
                name = f"{column}_{len(params)}"
                conditions.append(
                    SQL("{} {} %({})s").format(Identifier(column), SQL(operator), SQL(name))
                )
                params[name] = value
        if query.cursor is not None:
            after, _ = decode_cursor(query.order, query.cursor, int)
            conditions.append(
                SQL("position < %(after)s" if query.newest_first else "position > %(after)s")
            )
            params["after"] = after
        direction = SQL("DESC" if query.newest_first else "ASC")
        statement = SQL("SELECT {} FROM {} WHERE {} ORDER BY position {} LIMIT %(limit)s").format(
            SQL(COLUMNS), self.activity_table, SQL(" AND ").join(conditions), direction
        )
        return statement, params


@mypyc_attr(native_class=False)
class ActivityProjection(ReadModelProjection[ActivityView]):
    name = "activity"

    def __init__(self, view: ActivityView) -> None:
        super().__init__(view)
        # Owners never change, so a remembered one stays right even if the batch that found
        # it rolls back (the batch is applied again). Saves a query per event on catch-up.
        # Two generations: when the newer is full it becomes the older one, so the owners in
        # use stay remembered (an owner found in the older one moves back into the newer).
        # Keyed by the ids' integers: a UUID's hash is Python code, an int's is not.
        self._owners: dict[int, UUID] = {}
        self._older_owners: dict[int, UUID] = {}
        # One object per user for all the entities they own, however many events named them.
        self._users: dict[int, UUID] = {}

    def apply_all(self, events: Sequence[tuple[Any, int]], session: ViewSession) -> None:
        """Every event is a row; the batch's rows go in with one statement."""
        rows = []
        for domain_event, position in events:
            owner = self._owner(domain_event, session)
            if owner is not None:
                rows.append(_columns(domain_event, owner, position))
        self.view.record(session, rows)
        session.flush()

    def apply(self, domain_event: Any, session: ViewSession) -> None:
        """An event on its own (`apply_all` is what the projector calls)."""
        self.apply_all([(domain_event, session.position)], session)

    def _owner(self, domain_event: Any, session: ViewSession) -> UUID | None:
        """Whose the event's aggregate is (its first event says; remembered from then on)."""
        entity_id: UUID = domain_event.originator_id
        key = entity_id.int
        if domain_event.originator_version != 1:
            remembered = self._owners.get(key)
            if remembered is not None:
                return remembered  # the usual case, which changes nothing
        owner = self._owner_named_by(domain_event)
        if owner is not None:
            self.view.own(session, entity_id, owner)
        else:
            owner = (
                self._owners.get(key)
                or self._older_owners.get(key)
                or self.view.owner_of(session, entity_id)
            )
        if owner is None:
            return None  # an event of nobody's (none exist today): nothing to show anyone
        if len(self._owners) >= OWNER_CACHE_SIZE:
            self._older_owners, self._owners = self._owners, {}
            if len(self._users) >= OWNER_CACHE_SIZE:
                self._users.clear()
        self._owners[key] = self._users.setdefault(owner.int, owner)
        return owner

    @staticmethod
    def _owner_named_by(domain_event: Any) -> UUID | None:
        if domain_event.originator_version != 1:
            return None
        for attribute in ("owner_id", "user_id"):
            value = getattr(domain_event, attribute, None)
            if isinstance(value, UUID):
                return value
        # A user's own first event: the user is the owner.
        return (
            domain_event.originator_id
            if type(domain_event).__qualname__ == "User.Registered"
            else None
        )


class ActivityRow(NamedTuple):
    """An event's row of the log, but for its position (the session's)."""

    user_id: UUID  # and the actor: only owners change their data today
    occurred_at: datetime
    entity_type: str
    entity_id: UUID
    action: str
    summary: str
    event_type: str
    version: int


@dataclass(frozen=True)
class _Naming:
    """What an event's class alone says about its rows: worked out once per class."""

    event_type: str
    entity_type: str
    action: str
    # A part event's field naming the part (`subtask_id`), with the part's entity type and
    # action; None where the event is about its aggregate.
    part: tuple[str, str, str] | None
    # What the summary says first (`subtask completed`), about the aggregate and about a part.
    words: str
    part_words: str
    # Of the attributes the summary looks up, those the class itself has (a field with a
    # default, say); all of them where the class changes how attributes are found.
    on_class: frozenset[str]


# The attributes a summary may look up on an event (besides those every event has).
_LOOKED_UP: Final = frozenset(
    {
        "late", "occurrence_at", "tokens_in", "amount", "carried_over", "expired",
        *_NAMING_FIELDS, "day", "period_end", "notification_ids", "changes",
    }
)  # fmt: skip

_namings: Final[dict[type[Any], _Naming]] = {}


def _naming(event_class: type[Any]) -> _Naming:
    found = _namings.get(event_class)
    if found is None:
        found = _namings[event_class] = _name(event_class)
    return found


def _name(event_class: type[Any]) -> _Naming:
    event_type = event_class.__qualname__
    aggregate, _, name = event_type.partition(".")
    part = _PART_EVENT.match(name)
    naming = None
    if part:
        entity_type = part.group(1).lower()
        naming = (f"{entity_type}_id", entity_type, _snake(part.group(2)))
    on_class = frozenset(name for name in _LOOKED_UP if hasattr(event_class, name))
    if any(
        "__getattribute__" in vars(cls) or "__getattr__" in vars(cls)
        for cls in event_class.__mro__
        if cls is not object
    ):
        on_class = _LOOKED_UP
    entity_type, action = _snake(aggregate), _snake(name)
    return _Naming(
        event_type, entity_type, action, naming, _words(entity_type, action),
        _words(naming[1], naming[2]) if naming else "", on_class,
    )  # fmt: skip


def _words(entity_type: str, action: str) -> str:
    return f"{entity_type.replace('_', ' ')} {action.replace('_', ' ')}"


def describe(domain_event: Any, owner: UUID) -> ActivityRow:
    """The row of an event: what happened to what, in words a person reads."""
    return ActivityRow._make(_columns(domain_event, owner, 0)[1:])


def _columns(domain_event: Any, owner: UUID, position: int) -> tuple[Any, ...]:
    """The event's row of the log at `position`: the position, then `ActivityRow`'s columns."""
    naming = _naming(type(domain_event))
    entity_type, entity_id, action = naming.entity_type, domain_event.originator_id, naming.action
    words = naming.words
    if naming.part is not None and hasattr(domain_event, naming.part[0]):
        entity_id = getattr(domain_event, naming.part[0])
        entity_type, action, words = naming.part[1], naming.part[2], naming.part_words
    return (
        position,
        owner,
        domain_event.timestamp,
        entity_type,
        entity_id,
        action,
        _summary(domain_event, _present(domain_event, naming), words),
        naming.event_type,
        domain_event.originator_version,
    )


def _present(domain_event: Any, naming: _Naming) -> frozenset[str]:
    """The attributes of `_LOOKED_UP` the event has: any other reads as None. (Most events
    have one or two of them, and looking up the others one by one, only to find nothing, was
    a third of the log's time in a rebuild.)"""
    attributes = getattr(domain_event, "__dict__", None)
    if attributes is None:
        return _LOOKED_UP
    present = _LOOKED_UP.intersection(attributes)
    return present | naming.on_class if naming.on_class else present


def _summary(domain_event: Any, present: frozenset[str], words: str) -> str:
    # Each attribute is looked up only if `present` has it (without, getattr would find None).
    if not present:
        return words
    if "late" in present and getattr(domain_event, "late", None) is True:
        words += " late"  # a reminder fired after the scheduler was away
    if "occurrence_at" in present:
        occurrence = getattr(domain_event, "occurrence_at", None)
        if isinstance(occurrence, datetime):
            words += f" for {occurrence.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    details = _details(domain_event, present)
    return f"{words}: {', '.join(details)}" if details else words


def _details(domain_event: Any, present: frozenset[str]) -> list[str]:
    """How much, about what, and when, as far as the event says: `3 credits, ai_chat`.
    (`present`: which of the attributes looked up here the event has.)"""
    if "tokens_in" in present and isinstance(getattr(domain_event, "tokens_in", None), int):
        return _ai_request_details(domain_event)
    details = []
    if "amount" in present:
        amount = getattr(domain_event, "amount", None)
        if isinstance(amount, int):  # only the credit ledger's events have amounts
            details.append(f"{amount} credit{'' if amount == 1 else 's'}")
    for field in ("carried_over", "expired"):
        if field in present:
            count = getattr(domain_event, field, None)
            if isinstance(count, int) and count:
                details.append(f"{count} {field.replace('_', ' ')}")
    for field in _NAMING_FIELDS:
        words = getattr(domain_event, field, None) if field in present else None
        if isinstance(words, str):
            details.append(words[:120])
            break
    if "day" in present:
        day = getattr(domain_event, "day", None)
        if isinstance(day, str):
            details.append(day)
    if "period_end" in present:
        period_end = getattr(domain_event, "period_end", None)
        if isinstance(period_end, datetime):
            details.append(f"period end {period_end.astimezone(UTC).date().isoformat()}")
    if "notification_ids" in present:
        ids = getattr(domain_event, "notification_ids", None)
        if isinstance(ids, list):
            details.append(f"{len(ids)} notification{'' if len(ids) == 1 else 's'}")
    if not details and "changes" in present:
        changes = getattr(domain_event, "changes", None)
        if isinstance(changes, dict) and changes:
            details.append(", ".join(sorted(changes)))
    return details


def _ai_request_details(event: Any) -> list[str]:
    """An AI request as an auditor reads it: `chat ok, 42 characters, 120 tokens in, 35 out,
    1 credit, 830 ms` (the prompt itself stays with the conversation)."""
    return [
        f"{event.kind} {event.outcome}",
        f"{event.prompt_chars} characters",
        f"{event.tokens_in} tokens in, {event.tokens_out} out",
        f"{event.credits} credit{'' if event.credits == 1 else 's'}",
        f"{event.latency_ms} ms",
    ]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def export_lines(view: ActivityView, user_id: UUID, format: str) -> Iterator[str]:
    """The user's whole log as JSON lines or CSV, a line at a time: flat memory at any size."""
    rows = view.export(user_id)
    if format == "jsonl":
        for row in rows:
            yield json.dumps({k: _text(v) for k, v in row.items()}, separators=(",", ":")) + "\n"
        return
    yield _csv_line(EXPORT_COLUMNS)
    for row in rows:
        yield _csv_line([_text(row[column]) for column in EXPORT_COLUMNS])


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def _csv_line(cells: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if cell is None else cell for cell in cells])
    return buffer.getvalue()
