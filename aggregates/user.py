"""The User aggregate: identity and profile. Keyed by the identity provider's subject.

The tier is not here: it is derived from the user's Subscription when asked.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError
from aggregates.ids import PERPETUA_NAMESPACE

NAME_MAX_LENGTH = 100
AVATAR_URL_MAX_LENGTH = 2048
PROFILE_FIELDS = frozenset({"name", "avatar_url", "timezone"})


class UserNotFoundError(DomainError):
    code = "NOT_FOUND"


class InvalidProfileError(DomainError):
    code = "VALIDATION_ERROR"


def check_profile_field(field: str, value: Any) -> None:
    """Raise InvalidProfileError for a value the profile may not hold."""
    if field == "name":
        if not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX_LENGTH:
            raise InvalidProfileError(f"name must be 1-{NAME_MAX_LENGTH} characters", field=field)
    elif field == "avatar_url":
        valid = isinstance(value, str) and value.startswith(("https://", "http://"))
        if value is not None and (not valid or len(value) > AVATAR_URL_MAX_LENGTH):
            raise InvalidProfileError("avatar_url must be an http(s) URL", field=field)
    elif field == "timezone":
        if not _is_iana_zone(value):
            raise InvalidProfileError(
                "timezone must be an IANA name, e.g. Europe/Paris", field=field
            )
    else:
        raise InvalidProfileError(f"{field} cannot be changed", field=field)


def _is_iana_zone(value: Any) -> bool:
    if not isinstance(value, str) or not value or value.startswith(("/", ".")) or ".." in value:
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class User(Aggregate):
    class Registered(Aggregate.Created):
        provider: str
        subject: str
        email: str
        name: str

    class SignedIn(Aggregate.Event):
        email: str

    class ProfileUpdated(Aggregate.Event):
        changes: dict[str, Any]

    @staticmethod
    def create_id(provider: str, subject: str) -> UUID:
        # Keyed on the provider's stable subject, never on the e-mail (which may change).
        return uuid5(PERPETUA_NAMESPACE, f"user:{provider}:{subject}")

    @event(Registered)
    def __init__(self, provider: str, subject: str, email: str, name: str) -> None:
        self.provider = provider
        self.subject = subject
        self.email = email
        self.name = name
        self.avatar_url: str | None = None
        self.timezone = "UTC"

    def sign_in(self, *, email: str) -> None:
        """Record the sign-in (the activity log shows it) and the provider's current e-mail.

        The name is the user's own after registration (they may edit it), so it is not synced.
        """
        self._signed_in(email=email)

    @event(SignedIn)
    def _signed_in(self, email: str) -> None:
        self.email = email

    def update_profile(self, changes: dict[str, Any]) -> bool:
        """Change name, avatar_url or timezone; False (no event) when nothing changes."""
        for field, value in changes.items():
            check_profile_field(field, value)
        effective = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not effective:
            return False
        self._profile_updated(changes=effective)
        return True

    @event(ProfileUpdated)
    def _profile_updated(self, changes: dict[str, Any]) -> None:
        for field, value in changes.items():
            setattr(self, field, value)

    def profile(self) -> dict[str, Any]:
        """The user as they see themselves."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "avatar_url": self.avatar_url,
            "timezone": self.timezone,
            "version": self.version,
        }
