"""FastAPI dependencies for the caller's identity (set by infra.middleware.GuardMiddleware)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from infra.errors import ApiError
from infra.tokens import Principal

# Verification happens in AuthMiddleware; this only makes OpenAPI show the bearer scheme
# (and the "Authorize" button in /docs) on every route that needs a principal.
_bearer_scheme = HTTPBearer(auto_error=False, bearerFormat="JWT")


async def current_principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)] = None,
) -> Principal:
    """The authenticated caller; 401 if the route is outside GuardMiddleware's protection.

    A coroutine, though it awaits nothing: FastAPI runs a plain function dependency in a
    worker thread, a thread hop on every request for a dictionary lookup."""
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise ApiError(
            "UNAUTHENTICATED", "Authentication required", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
