"""Opaque refresh tokens: `<session id>.<secret>`; only the secret's SHA-256 is stored.

The session id in the token finds its AuthSession directly, with no lookup table; the
256-bit secret is what proves possession.
"""

from __future__ import annotations

import hashlib
import secrets
from uuid import UUID

from aggregates.auth_session import InvalidRefreshTokenError

SECRET_BYTES = 32  # 256 bits


def new_secret() -> tuple[str, str]:
    """A fresh secret and the hash to record of it."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return secret, hash_secret(secret)


def format_token(session_id: UUID, secret: str) -> str:
    return f"{session_id.hex}.{secret}"


def parse_refresh_token(token: str) -> tuple[UUID, str]:
    """The session id and the secret's hash; InvalidRefreshTokenError if it is not a token."""
    session_part, _, secret = token.partition(".")
    try:
        session_id = UUID(hex=session_part)
    except ValueError:
        raise InvalidRefreshTokenError("the refresh token is not valid") from None
    if len(secret) < SECRET_BYTES:
        raise InvalidRefreshTokenError("the refresh token is not valid")
    return session_id, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
