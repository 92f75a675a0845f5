"""Sign-in endpoints and the public keys that verify the tokens they issue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from commands.messages import SignIn
from infra.envelope import Envelope
from infra.errors import error_responses
from infra.keys import KeySet
from infra.tokens import TokenIssuer
from writeapi.deps import ApplicationDep
from writeapi.responses import with_position
from writeapi.schemas import DevLoginRequest, TokenOut, UserOut

router = APIRouter(prefix="/auth", tags=["auth"])
jwks_router = APIRouter(tags=["auth"])


@router.post(
    "/dev-login",
    response_model=Envelope[TokenOut],
    responses=error_responses("VALIDATION_ERROR", "NOT_FOUND"),
)
def dev_login(
    body: DevLoginRequest, application: ApplicationDep, request: Request, response: Response
) -> Envelope[TokenOut]:
    """Sign in as any e-mail address (only with PERPETUA_ENV=dev)."""
    email = body.email.strip().lower()
    saved = application.sign_in(SignIn(provider="dev", subject=email, email=email, name=body.name))
    user = saved.aggregate
    issuer: TokenIssuer = request.app.state.token_issuer
    token, expires_in = issuer.issue(user.id, user.tier)
    return Envelope(
        data=TokenOut(
            access_token=token,
            expires_in=expires_in,
            user=UserOut(id=user.id, email=user.email, name=user.name, tier=user.tier),
        ),
        meta=with_position(response, saved.position),
    )


@jwks_router.get("/.well-known/jwks.json", include_in_schema=True)
def jwks(request: Request) -> dict[str, Any]:
    """The public keys that verify access tokens (several while keys rotate)."""
    key_set: KeySet = request.app.state.key_set
    return key_set.jwks()
