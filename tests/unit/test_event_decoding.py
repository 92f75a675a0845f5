"""The rebuild's event decoder gives what the library's mapper gives, for every event: the same
class and the same `__dict__`, value for value and type for type. Where it cannot be sure (a
compressor, an unregistered `_type_`, JSON it does not parse itself) the mapper decodes, and
fails, itself."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.domain import Aggregate, DomainEventProtocol, event
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregates.inbox import Inbox
from commands.application import PerpetuaApplication
from commands.messages import (
    Actor,
    ApplyBillingEvent,
    DeleteTemplate,
    Logout,
    MarkAllNotificationsRead,
    MarkNotificationRead,
    RefreshSession,
    RefundCredits,
    SignIn,
    SpendCredits,
    UpdateProfile,
)
from projectors.event_decoding import EventDecoder, StoredFields
from projectors.rebuild import StoredRow
from tests.fakes.clock import Clock
from tests.histories import write_tasks, write_template


class Specimen(Aggregate):
    """Events of shapes the app's aggregates do not have."""

    class Renamed(Aggregate.Event):
        # Stored as v1 with `title`; upcast to v2's `name`.
        class_version = 2
        name: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["name"] = state.pop("title").upper()

    @event("Recorded")
    def record(self, value: Any) -> None:
        self.value = value

    @event(Renamed)
    def rename(self, name: str) -> None:
        self.name = name


class Point:
    """A value of a transcoding of our own."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))


class PointAsList(Transcoding):
    type = Point
    name = "point"

    def encode(self, obj: Point) -> list[int]:
        return [obj.x, obj.y]

    def decode(self, data: list[int]) -> Point:
        return Point(*data)


def library_mapper(*extra: Transcoding, **options: Any) -> Mapper[UUID]:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), *extra):
        transcoder.register(transcoding)
    return Mapper(transcoder, **options)


class MapperCalls:
    """Counts the events the decoder hands to the mapper (an instance attribute, so that the
    decoder still finds the library's `Mapper.to_domain_event` on the class)."""

    def __init__(self, mapper: Mapper[UUID], monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = mapper.to_domain_event

        def counted(stored: StoredEvent) -> DomainEventProtocol[UUID]:
            self.count += 1
            return original(stored)

        monkeypatch.setattr(mapper, "to_domain_event", counted)


def assert_same(decoded: object, expected: object) -> None:
    """Equal, of the same types all the way down, dict keys in the same order."""
    assert type(decoded) is type(expected)
    if isinstance(expected, tuple | list):
        assert isinstance(decoded, tuple | list)
        assert len(decoded) == len(expected)
        for item, value in zip(decoded, expected, strict=True):
            assert_same(item, value)
    elif isinstance(expected, dict):
        assert isinstance(decoded, dict)
        assert list(decoded) == list(expected)
        for key, value in expected.items():
            assert_same(decoded[key], value)
    elif isinstance(expected, float) and math.isnan(expected):
        assert isinstance(decoded, float)
        assert math.isnan(decoded)
    elif isinstance(expected, datetime):
        assert isinstance(decoded, datetime)
        assert (decoded, decoded.tzinfo, decoded.utcoffset()) == (
            expected,
            expected.tzinfo,
            expected.utcoffset(),
        )
    elif isinstance(expected, type):
        assert decoded is expected
    elif hasattr(expected, "__dict__"):  # a domain event
        assert_same(vars(decoded), vars(expected))
    else:
        assert decoded == expected


def outcome(decode: Callable[[Any], object], stored: StoredFields) -> object:
    """The decoded event, or the error as (type, message)."""
    try:
        return decode(stored)
    except Exception as error:
        return (type(error), str(error))


def contexts(error: BaseException | None) -> list[type[BaseException]]:
    chain = []
    while error is not None:
        chain.append(type(error))
        error = error.__context__
    return chain


def stored_recorded(mapper: Mapper[UUID], value: Any) -> StoredEvent:
    specimen = Specimen()
    specimen.record(value)
    return mapper.to_stored_event(specimen.collect_events()[-1])


def with_state(stored: StoredEvent, state: str) -> StoredEvent:
    return replace(stored, state=state.encode("utf8"))


def write_every_kind(app: PerpetuaApplication, clock: Clock) -> None:
    """Every kind of event the app records but the AI's, as in the integration test of
    rebuilds (`write_everything`), and sessions, billing, refunds and a notification read."""
    signed_in = app.sign_in(SignIn("dev", "pro@example.com", "pro@example.com", "Pro"))
    pro = Actor(signed_in.user.id)
    for event_type in ("subscription.activated", "subscription.renewed"):
        app.apply_billing_event(
            ApplyBillingEvent(
                f"evt_{uuid4().hex}",
                event_type,
                pro.user_id,
                clock.now + timedelta(days=400),
                payload={"nested": {"ids": [str(uuid4())], "ok": True, "amount": 1.5}},
            )
        )
    app.logout(Logout(app.refresh_session(RefreshSession(signed_in.refresh_token)).refresh_token))
    free = Actor(app.sign_in(SignIn("dev", "free@example.com", "free@example.com", "F")).user.id)
    app.update_profile(UpdateProfile(free, {"name": "Free \x00 Again", "timezone": "Europe/Paris"}))
    write_tasks(app, clock, pro, free)
    template_id = write_template(app, clock, pro)
    spend_id = uuid4()
    app.spend_credits(SpendCredits(pro, 2, "ai_chat", spend_id))
    app.refund_credits(RefundCredits(pro, spend_id, "ai_provider_error"))
    app.apply_billing_event(
        ApplyBillingEvent(f"evt_{uuid4().hex}", "credits.purchased", pro.user_id, credits=50)
    )
    app.apply_billing_event(
        ApplyBillingEvent(f"evt_{uuid4().hex}", "subscription.cancelled", pro.user_id)
    )
    inbox = Inbox.create_id(pro.user_id)
    posted = next(
        app.mapper.to_domain_event(note)
        for note in app.recorder.select_notifications(start=1, limit=100_000)
        if note.originator_id == inbox and note.topic.endswith("Inbox.NotificationPosted")
    )
    assert isinstance(posted, Inbox.NotificationPosted)
    app.mark_notification_read(MarkNotificationRead(pro, posted.notification_id))
    app.mark_all_notifications_read(MarkAllNotificationsRead(pro))
    app.delete_template(DeleteTemplate(pro, template_id))


def test_every_event_the_app_records_decodes_as_the_mapper_decodes_it(
    app: PerpetuaApplication, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_every_kind(app, clock)
    notes = app.recorder.select_notifications(start=1, limit=100_000)
    expected = [app.mapper.to_domain_event(note) for note in notes]
    decoder = EventDecoder(app.mapper)
    calls = MapperCalls(app.mapper, monkeypatch)

    for note, domain_event in zip(notes, expected, strict=True):
        assert_same(decoder.decode(note), domain_event)

    assert calls.count == 0  # all on the fast path
    topics = {note.topic for note in notes}
    assert len(topics) >= 65
    assert "aggregates.inbox:Inbox.AllRead" in topics  # a list of UUIDs
    assert "aggregates.inbox:Inbox.NotificationRead" in topics


def test_snapshots_decode_as_the_mapper_decodes_them(
    app: PerpetuaApplication, clock: Clock
) -> None:
    write_every_kind(app, clock)
    snapshotted = {
        UUID(str(note.originator_id))
        for note in app.recorder.select_notifications(start=1, limit=100_000)
        if note.topic.split(":")[1].split(".")[0]
        in {"ActiveTasks", "User", "CreditLedger", "Inbox", "TaskTemplate"}
    }
    assert app.snapshots is not None
    decoder = EventDecoder(app.mapper)
    for aggregate_id in snapshotted:
        app.take_snapshot(aggregate_id)
        (snapshot,) = app.snapshots.recorder.select_events(aggregate_id, desc=True, limit=1)
        assert_same(decoder.decode(snapshot), app.mapper.to_domain_event(snapshot))
    assert len(snapshotted) >= 5


def test_a_mapper_with_a_compressor_decodes_every_event_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mapper = library_mapper(compressor=ZlibCompressor())
    stored = stored_recorded(mapper, {"id": uuid4(), "at": [datetime.now(UTC)]})
    decoder = EventDecoder(mapper)
    calls = MapperCalls(mapper, monkeypatch)

    decoded = decoder.decode(stored)

    assert calls.count == 1
    assert_same(decoded, library_mapper(compressor=ZlibCompressor()).to_domain_event(stored))


def test_an_unregistered_type_fails_with_the_mappers_own_error() -> None:
    mapper = library_mapper()
    stored = with_state(
        stored_recorded(mapper, None),
        '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-25T12:00:00+00:00"},'
        '"value":{"_type_":"money","_data_":"5 EUR"}}',
    )

    with pytest.raises(MapperDeserialisationError) as expected:
        mapper.to_domain_event(stored)
    with pytest.raises(MapperDeserialisationError) as raised:
        EventDecoder(mapper).decode(stored)

    assert str(raised.value) == str(expected.value)
    # The mapper's own chain of errors, not raised while handling one of the fast path's.
    assert contexts(raised.value) == contexts(expected.value)


@pytest.mark.parametrize(
    "state",
    [
        # An object of exactly the two keys is a transcoded value, whoever wrote it (the
        # library does not escape user dicts); with a third key it is a dict.
        '{"value":{"_type_":"uuid_hex","_data_":"0123456789abcdef0123456789abcdef"}}',
        '{"value":{"_type_":"uuid_hex","_data_":"0123","x":1}}',
        '{"value":{"_type_":"uuid_hex","other":"0123"}}',
        # UUIDs spelt as UUID() takes them, and some it does not.
        '{"value":{"_type_":"uuid_hex","_data_":"{01234567-89ab-cdef-0123-456789abcdef}"}}',
        '{"value":{"_type_":"uuid_hex","_data_":"0123456789ABCDEF0123456789ABCDEF"}}',
        '{"value":{"_type_":"uuid_hex","_data_":"-0000000000000000000000000000000"}}',
        '{"value":{"_type_":"uuid_hex","_data_":" 000000000000000000000000000000f"}}',
        '{"value":{"_type_":"uuid_hex","_data_":"0x00000000000000000000000000000f"}}',
        '{"value":{"_type_":"uuid_hex","_data_":"0123456789abcdef0123456789abcdeg"}}',
        '{"value":{"_type_":"uuid_hex","_data_":"0123"}}',
        '{"value":{"_type_":"uuid_hex","_data_":12}}',
        '{"value":{"_type_":"uuid_hex","_data_":{"_type_":"uuid_hex","_data_":"00"}}}',
        '{"value":{"_type_":"datetime_iso","_data_":"2026-11-25"}}',
        '{"value":{"_type_":"datetime_iso","_data_":"2026-11-25T12:00:00.5+05:30"}}',
        '{"value":{"_type_":"datetime_iso","_data_":"yesterday"}}',
        '{"value":{"_type_":"datetime_iso","_data_":1}}',
        '{"value":{"_type_":"decimal_str","_data_":"1.10"}}',
        '{"value":{"_type_":"decimal_str","_data_":3}}',
        '{"value":{"_type_":"point","_data_":[1,2]}}',
        '{"value":[[{"_type_":"point","_data_":[3,4]}],{"deep":{"_type_":"decimal_str","_data_":"-0"}}]}',
        # The library's hook also sees an object a duplicate key then replaces.
        '{"value":{"_type_":"money","_data_":1},"value":2}',
        '{"value":1,"value":{"_type_":"decimal_str","_data_":"2"}}',
        # JSON the decoder leaves to the mapper, and JSON that is not an event's state.
        ' {"value":1} ',
        '{"value":1}\n',
        '{"value":1}x',
        "[1]",
        '{"_type_":"decimal_str","_data_":"1"}',
        '{"value":NaN,"other":-Infinity}',
        '{"value":"\\u0000 \\ud83d\\ude00 \\ud800"}',
        '{"class_version":1,"value":1}',
        "",
    ],
)
def test_stored_state_decodes_or_fails_as_the_mapper_has_it(state: str) -> None:
    mapper = library_mapper(PointAsList())
    stored = with_state(stored_recorded(mapper, None), state)

    decoded = outcome(EventDecoder(mapper).decode, stored)

    expected = outcome(mapper.to_domain_event, stored)
    assert_same(decoded, expected)


def test_bytes_that_are_not_utf8_fail_as_the_mapper_has_it() -> None:
    mapper = library_mapper()
    stored = replace(stored_recorded(mapper, None), state=b'{"value":"\xff"}')

    assert outcome(EventDecoder(mapper).decode, stored) == outcome(mapper.to_domain_event, stored)


def test_an_unknown_topic_fails_as_the_mapper_has_it() -> None:
    mapper = library_mapper()
    stored = replace(stored_recorded(mapper, None), topic="aggregates.task:Task.NoSuchEvent")

    decoded = outcome(EventDecoder(mapper).decode, stored)

    assert decoded == outcome(mapper.to_domain_event, stored)
    assert isinstance(decoded, tuple)
    assert issubclass(decoded[0], Exception)


def test_a_row_of_the_events_table_decodes_and_fails_as_the_stored_event_does() -> None:
    # A rebuild's pages hold rows (`StoredRow`), not `StoredEvent`s: the fallback to the
    # mapper must take them too.
    mapper = library_mapper()
    good = stored_recorded(mapper, None)
    bad = with_state(good, '{"value":{"_type_":"no_such_type","_data_":1}}')
    decoder = EventDecoder(mapper)

    for stored in (good, bad):
        assert isinstance(stored.originator_id, UUID)
        row = StoredRow(7, stored.originator_id, stored.originator_version, stored.topic,
                        stored.state)  # fmt: skip
        assert_same(outcome(decoder.decode, row), outcome(mapper.to_domain_event, stored))


def test_a_class_version_is_upcast_as_the_mapper_does() -> None:
    mapper = library_mapper()
    specimen = Specimen()
    specimen.rename("NEW")
    stored_v2 = mapper.to_stored_event(specimen.collect_events()[-1])
    assert json.loads(stored_v2.state)["class_version"] == 2
    stored_v1 = with_state(
        stored_v2,
        '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-25T12:00:00+00:00"},'
        '"title":"old"}',
    )
    decoder = EventDecoder(mapper)

    for stored in (stored_v2, stored_v1):
        assert_same(decoder.decode(stored), mapper.to_domain_event(stored))
    assert vars(decoder.decode(stored_v1))["name"] == "OLD"
    assert "class_version" not in vars(decoder.decode(stored_v2))


def test_an_originator_id_stored_as_text_becomes_a_uuid_as_with_the_mapper() -> None:
    mapper = library_mapper()
    as_uuid = stored_recorded(mapper, 1)
    as_text = replace(as_uuid, originator_id=str(as_uuid.originator_id))
    decoder = EventDecoder(mapper)

    # In both orders: the decoder keeps the convertor of the id type it met first.
    for stored in (as_uuid, as_text, as_uuid):
        assert_same(decoder.decode(stored), mapper.to_domain_event(stored))
    assert type(decoder.decode(as_text).originator_id) is UUID
    assert_same(EventDecoder(mapper).decode(as_text), mapper.to_domain_event(as_text))


def test_a_decoded_uuid_is_what_uuid_makes_of_its_hex() -> None:
    mapper = library_mapper()
    original = uuid4()

    (value,) = vars(EventDecoder(mapper).decode(stored_recorded(mapper, [original])))["value"]

    assert type(value) is UUID
    assert (value, value.int, value.is_safe, hash(value), str(value)) == (
        original,
        original.int,
        UUID(original.hex).is_safe,
        hash(original),
        str(original),
    )


# Values the app's transcoder stores: JSON's own, and the registered UUID, datetime, Decimal.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.uuids()
    | st.datetimes(timezones=st.none() | st.timezones())
    | st.decimals(allow_nan=False)
)
KEYS = st.text() | st.sampled_from(["_type_", "_data_", "timestamp", "class_version"])
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_any_value_round_trips_as_through_the_mapper(value: Any) -> None:
    mapper = library_mapper()
    stored = stored_recorded(mapper, value)

    decoded = outcome(EventDecoder(mapper).decode, stored)

    assert_same(decoded, outcome(mapper.to_domain_event, stored))


def test_the_json_of_a_stored_event_is_what_the_decoder_reads() -> None:
    """The states above are the library's own format: its encoder writes just that."""
    mapper = library_mapper()
    stored = stored_recorded(mapper, {"id": UUID(int=1), "amount": Decimal("1.10")})

    assert json.loads(stored.state)["value"] == {
        "id": {"_type_": "uuid_hex", "_data_": "00000000000000000000000000000001"},
        "amount": {"_type_": "decimal_str", "_data_": "1.10"},
    }
