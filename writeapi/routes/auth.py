"""Sign-in, token refresh and logout, and the public keys that verify access tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from commands.identity import SignedIn
from commands.messages import Logout, RefreshSession, SignIn
from infra.envelope import Envelope
from infra.errors import ApiError, error_responses
from infra.google_identity import (
    GoogleCertsUnavailableError,
    GoogleTokenError,
    GoogleTokenVerifier,
)
from infra.keys import KeySet
from infra.tokens import TokenIssuer
from writeapi.deps import ApplicationDep
from writeapi.responses import with_position
from writeapi.schemas import (
    DevLoginRequest,
    GoogleLoginRequest,
    LogoutOut,
    RefreshRequest,
    TokenOut,
    UserOut,
)

router = APIRouter(prefix="/auth", tags=["auth"])
dev_router = APIRouter(prefix="/auth", tags=["auth"])
jwks_router = APIRouter(tags=["auth"])


def token_response(request: Request, response: Response, signed_in: SignedIn) -> Envelope[TokenOut]:
    """The answer of every sign-in and refresh: a new access token and a new refresh token."""
    user = signed_in.user
    issuer: TokenIssuer = request.app.state.token_issuer
    # The tier claim is for display: every limit is decided from the aggregates.
    access_token, expires_in = issuer.issue(user.id, signed_in.tier)
    return Envelope(
        data=TokenOut(
            access_token=access_token,
            refresh_token=signed_in.refresh_token,
            expires_in=expires_in,
            user=UserOut(id=user.id, email=user.email, name=user.name, tier=signed_in.tier),
        ),
        meta=with_position(response, signed_in.position),
    )


@dev_router.post(
    "/dev-login", response_model=Envelope[TokenOut], responses=error_responses("VALIDATION_ERROR")
)
def dev_login(
    body: DevLoginRequest, application: ApplicationDep, request: Request, response: Response
) -> Envelope[TokenOut]:
    """Sign in as any e-mail address (only with PERPETUA_ENV=dev)."""
    email = body.email.strip().lower()
    signed_in = application.sign_in(
        SignIn(provider="dev", subject=email, email=email, name=body.name)
    )
    return token_response(request, response, signed_in)


@router.post(
    "/google",
    response_model=Envelope[TokenOut],
    responses=error_responses(
        "VALIDATION_ERROR", "INVALID_TOKEN", "AUTH_NOT_CONFIGURED", "SERVICE_UNAVAILABLE"
    ),
)
def google_login(
    body: GoogleLoginRequest, application: ApplicationDep, request: Request, response: Response
) -> Envelope[TokenOut]:
    """Sign in with a Google ID token; the account is registered on first sign-in."""
    verifier: GoogleTokenVerifier | None = request.app.state.google
    if verifier is None:
        raise ApiError("AUTH_NOT_CONFIGURED", "Google sign-in is not configured here")
    try:
        identity = verifier.verify(body.id_token)
    except GoogleTokenError as error:
        raise ApiError(
            "INVALID_TOKEN",
            "the Google ID token was rejected",
            details={"reason": str(error)[:200]},
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    except GoogleCertsUnavailableError:
        raise ApiError(
            "SERVICE_UNAVAILABLE",
            "Google's signing certificates could not be fetched; retry shortly",
            headers={"Retry-After": "5"},
        ) from None
    signed_in = application.sign_in(
        SignIn(
            provider="google", subject=identity.subject, email=identity.email, name=identity.name
        )
    )
    return token_response(request, response, signed_in)


@router.post(
    "/refresh",
    response_model=Envelope[TokenOut],
    responses=error_responses("VALIDATION_ERROR", "INVALID_TOKEN", "REFRESH_TOKEN_REUSED"),
)
def refresh(
    body: RefreshRequest, application: ApplicationDep, request: Request, response: Response
) -> Envelope[TokenOut]:
    """Exchange a refresh token for new tokens; each refresh token works once."""
    signed_in = application.refresh_session(RefreshSession(refresh_token=body.refresh_token))
    return token_response(request, response, signed_in)


@router.post(
    "/logout",
    response_model=Envelope[LogoutOut],
    responses=error_responses("VALIDATION_ERROR", "INVALID_TOKEN"),
)
def logout(
    body: RefreshRequest, application: ApplicationDep, response: Response
) -> Envelope[LogoutOut]:
    """End the session: its refresh tokens stop working."""
    position = application.logout(Logout(refresh_token=body.refresh_token))
    return Envelope(data=LogoutOut(revoked=True), meta=with_position(response, position))


@jwks_router.get("/.well-known/jwks.json")
def jwks(request: Request) -> dict[str, Any]:
    """The public keys that verify access tokens (several while keys rotate)."""
    key_set: KeySet = request.app.state.key_set
    return key_set.jwks()
