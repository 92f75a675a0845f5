"""Refresh tokens: single use, rotated, and a reused one revokes its whole family."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aggregates.auth_session import AuthSession, InvalidRefreshTokenError, RefreshTokenReusedError
from commands.application import PerpetuaApplication
from commands.identity import SignedIn
from commands.messages import Logout, RefreshSession, SignIn
from commands.refresh_tokens import parse_refresh_token
from tests.fakes.clock import Clock


@pytest.fixture
def app(clock: Clock) -> PerpetuaApplication:
    return PerpetuaApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        clock=clock,
        refresh_token_ttl=timedelta(days=30),
    )


def sign_in(app: PerpetuaApplication) -> SignedIn:
    return app.sign_in(SignIn("dev", "carol@example.com", "carol@example.com", "Carol"))


def refresh(app: PerpetuaApplication, token: str) -> SignedIn:
    return app.refresh_session(RefreshSession(refresh_token=token))


def test_refresh_token_is_long_random_and_stored_only_as_a_hash(app: PerpetuaApplication) -> None:
    signed_in = sign_in(app)
    session_id, secret_hash = parse_refresh_token(signed_in.refresh_token)
    secret = signed_in.refresh_token.partition(".")[2]
    assert len(secret) >= 43  # 32 random bytes, base64url
    stored = [event.__dict__ for event in app.events.get(session_id)]
    assert secret_hash in str(stored)
    assert secret not in str(stored)


def test_refresh_rotates_and_the_new_token_works(app: PerpetuaApplication) -> None:
    first = sign_in(app)
    second = refresh(app, first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.user.id == first.user.id
    third = refresh(app, second.refresh_token)
    assert third.position > second.position


def test_reusing_a_refresh_token_revokes_the_whole_family(app: PerpetuaApplication) -> None:
    first = sign_in(app)
    second = refresh(app, first.refresh_token)
    with pytest.raises(RefreshTokenReusedError):
        refresh(app, first.refresh_token)
    # The descendant the thief (or the victim) holds is dead too.
    with pytest.raises(InvalidRefreshTokenError):
        refresh(app, second.refresh_token)
    session: AuthSession = app.repository.get(parse_refresh_token(first.refresh_token)[0])
    assert session.revoked


def test_expired_refresh_token_is_refused(app: PerpetuaApplication, clock: Clock) -> None:
    signed_in = sign_in(app)
    clock.now += timedelta(days=30)
    with pytest.raises(InvalidRefreshTokenError):
        refresh(app, signed_in.refresh_token)


def test_logout_revokes_the_family(app: PerpetuaApplication) -> None:
    signed_in = sign_in(app)
    app.logout(Logout(refresh_token=signed_in.refresh_token))
    with pytest.raises(InvalidRefreshTokenError):
        refresh(app, signed_in.refresh_token)


@pytest.mark.parametrize(
    "token", ["", "garbage", "0" * 32 + ".short", "not-hex." + "x" * 43, "0" * 32 + "." + "x" * 43]
)
def test_malformed_or_unknown_refresh_tokens_are_invalid(
    app: PerpetuaApplication, token: str
) -> None:
    with pytest.raises(InvalidRefreshTokenError):
        refresh(app, token)
    with pytest.raises(InvalidRefreshTokenError):
        app.logout(Logout(refresh_token=token))


def test_a_guessed_secret_for_a_real_session_is_invalid(app: PerpetuaApplication) -> None:
    signed_in = sign_in(app)
    session_part = signed_in.refresh_token.partition(".")[0]
    with pytest.raises(InvalidRefreshTokenError):
        refresh(app, f"{session_part}.{'A' * 43}")
    # A wrong guess is not "reuse": the real token still works.
    refresh(app, signed_in.refresh_token)
