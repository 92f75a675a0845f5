"""The User aggregate: identity, profile and tier. Keyed by the identity provider's subject."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError
from aggregates.ids import PERPETUA_NAMESPACE

TIERS = ("free", "pro")


class UserNotFoundError(DomainError):
    code = "NOT_FOUND"


class User(Aggregate):
    class Registered(Aggregate.Created):
        provider: str
        subject: str
        email: str
        name: str

    class SignedIn(Aggregate.Event):
        email: str

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
        self.tier = "free"

    def sign_in(self, *, email: str) -> None:
        """Record the sign-in (the activity log shows it) and the provider's current e-mail.

        The name is the user's own after registration (they may edit it), so it is not synced.
        """
        self._signed_in(email=email)

    @event(SignedIn)
    def _signed_in(self, email: str) -> None:
        self.email = email
