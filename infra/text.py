"""What text we accept from outside: one rule for every body field, query parameter and name
an identity provider sends.

PostgreSQL `text` cannot hold NUL, and UTF-8 cannot encode a lone surrogate: either one in an
event would stop every projection that copies it into the read model (events are forever). The
other C0 control characters are legal there but never meant in a title or a name, and they
break terminals, CSV exports and logs; tab, newline and carriage return are ordinary text.
"""

from __future__ import annotations

import re

# C0 controls but tab (09), newline (0a) and carriage return (0d); every surrogate code point
# (a Python str only holds one when it came from an unpaired `\ud800`-style JSON escape).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")

FORBIDDEN_CHARACTER_TYPE = "forbidden_character"
FORBIDDEN_CHARACTER_MESSAGE = (
    "must not contain control characters (other than tab, newline, carriage return)"
    " or unpaired surrogates"
)


def forbidden_character(text: str) -> str | None:
    """The first character `text` may not hold, as `U+XXXX`; None when it is acceptable."""
    found = _FORBIDDEN.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def without_forbidden_characters(text: str) -> str:
    """`text` with every character the rule refuses removed: for what we cannot send back."""
    return _FORBIDDEN.sub("", text)
