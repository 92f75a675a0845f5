"""Sign-in, sessions (refresh tokens) and the user's own profile."""

from __future__ import annotations

from dataclasses import dataclass

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from aggregates.auth_session import AuthSession, InvalidRefreshTokenError, RefreshTokenReusedError
from aggregates.user import User
from commands.base import CommandHandlers, Saved
from commands.messages import Logout, RefreshSession, SignIn, UpdateProfile
from commands.refresh_tokens import format_token, new_secret, parse_refresh_token


@dataclass(frozen=True)
class SignedIn:
    """A signed-in user, their tier now, their new refresh token (shown once), the position."""

    user: User
    tier: str
    refresh_token: str
    position: int


class IdentityCommands(CommandHandlers):
    def sign_in(self, command: SignIn) -> SignedIn:
        """Register the user on first sign-in; every sign-in is an event and a new session."""

        def attempt() -> SignedIn:
            user_id = User.create_id(command.provider, command.subject)
            changed: list[Aggregate] = []
            try:
                user: User = self.repository.get(user_id)
            except AggregateNotFoundError:
                user = User(
                    provider=command.provider,
                    subject=command.subject,
                    email=command.email,
                    name=command.name,
                )
                # The kickstart gift (and today's credits) come in the registration's commit.
                changed.append(self._ledger_now(user.id))
            user.sign_in(email=command.email)
            secret, secret_hash = new_secret()
            session = AuthSession(
                user_id=user.id,
                provider=command.provider,
                token_hash=secret_hash,
                expires_at=self.clock() + self.refresh_token_ttl,
            )
            position = self._save(user, session, *changed)
            return SignedIn(user, self.tier_of(user.id), format_token(session.id, secret), position)

        # Two first sign-ins of one user race to register them: the loser signs in again.
        return self._retry_on_conflict(
            attempt, user_id=User.create_id(command.provider, command.subject)
        )

    def refresh_session(self, command: RefreshSession) -> SignedIn:
        """Rotate a refresh token; a used one revokes its whole family."""

        def attempt() -> SignedIn:
            session, presented = self._session_of(command.refresh_token)
            if session.is_reuse(presented):
                session.revoke("refresh_token_reused")
                self._save(session)
                raise RefreshTokenReusedError("this refresh token was already used; sign in again")
            secret, secret_hash = new_secret()
            now = self.clock()
            session.rotate(
                presented, new_hash=secret_hash, expires_at=now + self.refresh_token_ttl, now=now
            )
            position = self._save(session)
            return SignedIn(
                self.get_user(session.user_id),
                self.tier_of(session.user_id),
                format_token(session.id, secret),
                position,
            )

        # The session names its user only once loaded; its family is the contended part.
        return self._retry_on_conflict(attempt, user_id=None)

    def logout(self, command: Logout) -> int:
        """Revoke the refresh token's family; returns the position (the head if already done)."""
        session, presented = self._session_of(command.refresh_token)
        if presented != session.token_hash and not session.is_reuse(presented):
            raise InvalidRefreshTokenError("the refresh token is not valid")
        if session.revoked:
            return self._head_position()
        session.revoke("logout")
        return self._save(session)

    def update_profile(self, command: UpdateProfile) -> Saved[User]:
        def attempt() -> Saved[User]:
            user = self.get_user(command.actor.user_id)
            if not user.update_profile(command.changes):
                return Saved(user, self._head_position())
            return Saved(user, self._save(user))

        # A concurrent sign-in also appends to the user: re-apply the change on top of it.
        return self._retry_on_conflict(attempt, user_id=command.actor.user_id)

    def _session_of(self, refresh_token: str) -> tuple[AuthSession, str]:
        session_id, presented = parse_refresh_token(refresh_token)
        session = self._get_owned(
            session_id,
            AuthSession,
            owner_id=None,
            not_found=InvalidRefreshTokenError("the refresh token is not valid"),
        )
        assert isinstance(session, AuthSession)
        return session, presented
