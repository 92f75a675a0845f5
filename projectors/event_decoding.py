"""Stored events to domain events, exactly as the library's mapper makes them, in 60% of the time.

A projection rebuild decodes every event of the store, and `Mapper.to_domain_event` was a fifth
of a rebuild: per event it resolves the topic, looks up the originator id's convertor, and runs
`json` through two Python wrappers and an object hook that, per transcoded value, goes through
try/except, `typing.cast` calls and `UUID.__init__`. `EventDecoder` takes the same steps with
that work done once per topic, or left out where it cannot change the result:

- the JSON is parsed by the C scanner directly, with an object hook of its own that is called
  for every object in the same order as the library's, so it decodes exactly what the
  library's hook decodes (nested values, transcoded-looking user dicts, even duplicate keys);
- a UUID is built from its 32 hex digits without `UUID.__init__`'s clean-up of spellings
  (braces, hyphens, "urn:uuid:") that a stored hex does not have: 0.5 µs a UUID;
- the class, its `class_version` and the originator id's convertor are found once per topic.

Whatever it cannot be sure of goes to the mapper itself: every event of a mapper whose class
has a `to_domain_event` of its own, or with a cipher or compressor, or whose transcoder is not
exactly the library's `JSONTranscoder` with its default JSON decoder; and any event whose fast
decoding raises (an unregistered `_type_`, bad JSON, an unknown topic...), so that such an
event decodes, or fails, exactly as the mapper has it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Protocol, cast
from uuid import UUID, SafeUUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
    find_id_convertor,
    pass_through_convertor,
)
from eventsourcing.utils import resolve_topic


class StoredFields(Protocol):
    """What decoding reads of a stored event: a `StoredEvent` (or `Notification`), or a row
    of the events table with the same names."""

    @property
    def originator_id(self) -> Any: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def state(self) -> bytes: ...


# Final, like every module-level name used for each event: where this module is compiled
# (infra/compiled.py), a Final name is read from a C variable, any other from the module's
# dictionary at each use (imported names too, hence the aliases).
_new: Final = object.__new__
_set_attribute: Final = object.__setattr__
_UNKNOWN_SAFETY: Final = SafeUUID.unknown
_UUID: Final = UUID
_PASS_THROUGH: Final = pass_through_convertor


class _Topic:
    """What decoding an event of one topic needs, found once."""

    __slots__ = ("class_version", "cls", "id_convertor", "id_type")

    def __init__(self, topic: str, id_type: type[Any]) -> None:
        self.cls: type[Any] = resolve_topic(topic)
        self.class_version: int = getattr(self.cls, "class_version", 1)
        # For the originator id type seen first (the store's): others ask the library each time.
        self.id_type = id_type
        self.id_convertor: Callable[[Any], Any] = find_id_convertor(
            cast(Hashable, self.cls), cast(Hashable, id_type)
        )


class EventDecoder:
    """Turns stored events into domain events as `mapper.to_domain_event` does, faster.

    The mapper's configuration is read once, here: make one per rebuild, after the
    application has set its mapper up.
    """

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self._mapper = mapper
        self._topics: dict[str, _Topic] = {}
        transcoder = mapper.transcoder
        self._fast = (
            type(mapper).to_domain_event is Mapper.to_domain_event
            and mapper.cipher is None
            and mapper.compressor is None
            and type(transcoder) is JSONTranscoder
            and transcoder.decoder.object_hook == transcoder._decode_obj
            and _parses_as_default_json(transcoder.decoder)
        )
        if not self._fast:
            return
        assert isinstance(transcoder, JSONTranscoder)
        values = {
            name: _value_decoder(transcoding) for name, transcoding in transcoder.names.items()
        }

        def decode_object(obj: dict[str, Any]) -> Any:
            # JSONTranscoder._decode_obj: an object of the two keys `_type_` and `_data_` is a
            # transcoded value. An unregistered `_type_` raises KeyError: the mapper's then.
            if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
                return values[obj["_type_"]](obj["_data_"])
            return obj

        # The C scanner itself: `JSONDecoder.decode` adds two Python calls and a regex per event.
        # (JSONDecoder.__init__ sets `scan_once`; typeshed does not declare it.)
        decoder = json.JSONDecoder(object_hook=decode_object)
        self._scan: Callable[[str, int], tuple[Any, int]] = decoder.scan_once  # type: ignore[attr-defined]

    def decode(self, stored: StoredFields) -> DomainEventProtocol[UUID]:
        event = None
        if self._fast:
            try:
                event = self._decode(stored)
            except Exception:
                # Outside this handler, the mapper's own error (if any) chains to nothing of ours.
                event = None
        if event is None:
            return self._mapper.to_domain_event(_stored_event(stored))
        return event

    def _decode(self, stored: StoredFields) -> DomainEventProtocol[UUID]:
        # The steps of Mapper.to_domain_event, in its order.
        originator_id = stored.originator_id
        topic = self._topics.get(stored.topic)
        if topic is None:
            topic = self._topics[stored.topic] = _Topic(stored.topic, type(originator_id))
        text = stored.state.decode("utf8")
        state, end = self._scan(text, 0)
        # Whitespace around the JSON (which the library allows), or a state that is not an
        # object: the mapper's business.
        if end != len(text) or type(state) is not dict:
            raise ValueError(stored.topic)
        if type(originator_id) is topic.id_type:
            if topic.id_convertor is not _PASS_THROUGH:
                originator_id = topic.id_convertor(originator_id)
            state["originator_id"] = originator_id
        else:
            convertor = find_id_convertor(
                cast(Hashable, topic.cls), cast(Hashable, type(originator_id))
            )
            state["originator_id"] = convertor(originator_id)
        state["originator_version"] = stored.originator_version
        from_version = state.pop("class_version", 1)
        while from_version < topic.class_version:
            getattr(topic.cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        domain_event: DomainEventProtocol[UUID] = _new(topic.cls)
        _set_attribute(domain_event, "__dict__", state)
        return domain_event


def _stored_event(stored: StoredFields) -> StoredEvent:
    """`stored` as the mapper takes it."""
    if isinstance(stored, StoredEvent):
        return stored
    return StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=stored.state,
    )


def _value_decoder(transcoding: Transcoding) -> Callable[[Any], Any]:
    """A function equal to `transcoding.decode`: quicker for the library's own
    transcodings (exactly these classes, not subclasses), the transcoding itself for
    any other."""
    kind = type(transcoding)
    if kind is UUIDAsHex:
        return _uuid
    if kind is DatetimeAsISO:
        # Takes what the transcoding's isinstance assertion lets through, and raises (so
        # that the mapper raises its own) on anything else.
        return datetime.fromisoformat
    if kind is DecimalAsStr:
        return Decimal
    return transcoding.decode


def _uuid(data: Any) -> UUID:
    # UUID(data) strips "urn:", "uuid:", braces and hyphens and then wants 32 digits for
    # int(data, 16). Of 32 characters without a hyphen, stripping any of the others would
    # leave fewer than 32, and int() fails on ':', '{' and '}' as well; so then int(data, 16)
    # alone decides, as in UUID(data), and the value fits in 128 bits.
    if type(data) is not str or len(data) != 32 or "-" in data:
        return UUIDAsHex().decode(data)
    uuid = _new(_UUID)
    _set_attribute(uuid, "int", int(data, 16))
    _set_attribute(uuid, "is_safe", _UNKNOWN_SAFETY)
    return uuid


def _parses_as_default_json(decoder: json.JSONDecoder) -> bool:
    """Whether the transcoder's decoder parses as a default JSONDecoder does (as the fast path
    does), apart from its object hook."""
    default = json.JSONDecoder()
    return (
        type(decoder) is json.JSONDecoder
        and decoder.object_pairs_hook is None
        and decoder.parse_float is default.parse_float
        and decoder.parse_int is default.parse_int
        and decoder.parse_constant == default.parse_constant
        and decoder.strict == default.strict
    )
