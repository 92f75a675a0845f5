"""AuthSession: one sign-in's family of refresh tokens.

Each refresh rotates the token; the family remembers the hashes of the used ones, so a used
token presented again (a stolen copy, or the victim after the thief) revokes the whole family
(RFC 9700 §4.14.2). Only SHA-256 hashes of tokens are ever recorded.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.errors import DomainError


class InvalidRefreshTokenError(DomainError):
    code = "INVALID_TOKEN"


class RefreshTokenReusedError(DomainError):
    code = "REFRESH_TOKEN_REUSED"


class AuthSession(Aggregate):
    class Started(Aggregate.Created):
        user_id: UUID
        provider: str
        token_hash: str
        expires_at: datetime

    class Rotated(Aggregate.Event):
        token_hash: str
        expires_at: datetime

    class Revoked(Aggregate.Event):
        reason: str

    @event(Started)
    def __init__(self, user_id: UUID, provider: str, token_hash: str, expires_at: datetime) -> None:
        self.user_id = user_id
        self.provider = provider
        self.token_hash = token_hash
        self.expires_at = expires_at
        self.used_hashes: list[str] = []
        self.revoked = False

    def is_reuse(self, presented_hash: str) -> bool:
        return presented_hash in self.used_hashes

    def rotate(
        self, presented_hash: str, *, new_hash: str, expires_at: datetime, now: datetime
    ) -> None:
        """Exchange the current token for a new one."""
        if self.revoked or presented_hash != self.token_hash:
            raise InvalidRefreshTokenError("the refresh token is not valid")
        if now >= self.expires_at:
            raise InvalidRefreshTokenError("the refresh token has expired")
        self._rotated(token_hash=new_hash, expires_at=expires_at)

    @event(Rotated)
    def _rotated(self, token_hash: str, expires_at: datetime) -> None:
        self.used_hashes.append(self.token_hash)
        self.token_hash = token_hash
        self.expires_at = expires_at

    def revoke(self, reason: str) -> None:
        if not self.revoked:
            self._revoked(reason=reason)

    @event(Revoked)
    def _revoked(self, reason: str) -> None:
        self.revoked = True
