"""Every text a view writes is text PostgreSQL accepts: NUL and lone surrogates become U+FFFD.

The API refuses both (infra/text.py), but events stored before it did may hold them, and
events are forever: a projection copying such a text would fail on that event, retry and
fail again, holding up every read that waits for it. So the read model's sessions bind every
`str` parameter through the dumpers below, whatever the handler, statement or column: a
field added later cannot poison a view either. Other control characters are valid text and
pass unchanged. History and time travel replay the store itself and show what was stored.
"""

from __future__ import annotations

import re

from psycopg.abc import Buffer
from psycopg.adapt import AdaptersMap
from psycopg.types.string import StrBinaryDumper, StrDumper, StrDumperUnknown

REPLACEMENT_CHARACTER = "\ufffd"
# NUL: `text` cannot hold it. Surrogates: UTF-8 cannot encode one (a Python str holds them
# only unpaired).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with what PostgreSQL `text` cannot hold replaced by U+FFFD."""
    # Bound for every parameter: ASCII without NUL (the usual case) is two cheap checks.
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(REPLACEMENT_CHARACTER, text)


class StorableTextDumper(StrDumperUnknown):
    """psycopg's default for `str` (text format, type left to the server), made storable."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(storable(obj))


class StorableTextOidDumper(StrDumper):
    """The text-format dumper psycopg uses where the `text` type is asked for by oid."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(storable(obj))


class StorableTextBinaryDumper(StrBinaryDumper):
    """The binary-format dumper (`%b` placeholders, binary COPY)."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(storable(obj))


def bind_storable_text(adapters: AdaptersMap) -> None:
    """Make `adapters` (a cursor's or a connection's) dump every `str` storably."""
    # In psycopg's own order: for `%s` (PyFormat.AUTO) the last registered wins, and that
    # must stay the unknown-oid text dumper, which lets the server infer the column's type.
    for dumper in (StorableTextBinaryDumper, StorableTextOidDumper, StorableTextDumper):
        adapters.register_dumper(str, dumper)
