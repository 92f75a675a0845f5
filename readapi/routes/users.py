"""The signed-in user's profile, tier and effective limits."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import ApiError, error_responses
from infra.settings import Settings
from readapi.account import me_out, read_account
from readapi.deps import AchievementsDep, SubscriptionsDep, UserProfilesDep, consistent_with
from readapi.responses import read_response
from readapi.schemas import MeOut

router = APIRouter(
    prefix="/users",
    tags=["users"],
    # The tier comes from the subscription, the perks from the achievements.
    dependencies=[consistent_with("user_profiles", "subscriptions", "achievements")],
)


@router.get(
    "/me",
    response_model=Envelope[MeOut],
    responses=error_responses("NOT_FOUND", "PROJECTION_LAGGING"),
)
async def me(
    request: Request,
    principal: CurrentPrincipal,
    view: UserProfilesDep,
    subscriptions: SubscriptionsDep,
    achievements: AchievementsDep,
) -> Response:
    """Your profile, your tier and the limits that apply to you now."""
    row, profile_position = await run_in_threadpool(
        view.get_user, principal.user_id, EVENT_STORE_NAME
    )
    account = await read_account(subscriptions, achievements, principal.user_id)
    position = min(profile_position, account.position)
    if row is None:
        raise ApiError(
            "NOT_FOUND",
            "no profile yet; retry with X-Min-Position from your sign-in",
            headers={"X-Projection-Position": str(position)},
        )
    settings: Settings = request.app.state.settings
    payload = Envelope[MeOut](
        data=me_out(row, account, settings.tier_limits, datetime.now(tz=UTC)),
        meta={"position": position},
    )
    return read_response(request, payload, position)
