"""The signed-in user's profile, tier and effective limits."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import ApiError, error_responses
from infra.settings import Settings
from readapi.deps import UserProfilesDep, consistent_with
from readapi.responses import read_response
from readapi.schemas import MeOut

router = APIRouter(prefix="/users", tags=["users"], dependencies=[consistent_with("user_profiles")])


@router.get(
    "/me",
    response_model=Envelope[MeOut],
    responses=error_responses("NOT_FOUND", "PROJECTION_LAGGING"),
)
async def me(request: Request, principal: CurrentPrincipal, view: UserProfilesDep) -> Response:
    """Your profile, your tier and the limits that apply to you now."""
    row, position = await run_in_threadpool(view.get_user, principal.user_id, EVENT_STORE_NAME)
    if row is None:
        raise ApiError(
            "NOT_FOUND",
            "no profile yet; retry with X-Min-Position from your sign-in",
            headers={"X-Projection-Position": str(position)},
        )
    settings: Settings = request.app.state.settings
    limits = settings.tier_limits.get(row["tier"], settings.tier_limits["free"])
    payload = Envelope[MeOut](
        data=MeOut.model_validate({**row, "limits": limits}), meta={"position": position}
    )
    return read_response(request, payload, position)
