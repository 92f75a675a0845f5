"""The root of every domain error; each aggregate module names its own below it."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A rule of the domain said no; nothing was recorded.

    `code` is the stable machine name the HTTP layer maps to a status, once.
    """

    code: ClassVar[str] = "DOMAIN_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = details


class ConcurrentModificationError(DomainError):
    """Other commands kept changing the same aggregates; the client may simply retry."""

    code = "CONFLICT"
