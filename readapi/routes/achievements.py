"""Your achievements: stats, what you unlocked, what is next, and the limits they raise."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import error_responses
from infra.settings import Settings
from readapi.account import achievements_out, read_account
from readapi.deps import AchievementsDep, SubscriptionsDep, UserProfilesDep, consistent_with
from readapi.responses import read_response
from readapi.schemas import AchievementsOut

router = APIRouter(
    prefix="/achievements",
    tags=["achievements"],
    # Streaks count days in the user's timezone; limits follow the tier.
    dependencies=[consistent_with("achievements", "subscriptions", "user_profiles")],
)


@router.get(
    "",
    response_model=Envelope[AchievementsOut],
    responses=error_responses("PROJECTION_LAGGING"),
)
async def achievements(
    request: Request,
    principal: CurrentPrincipal,
    achievements: AchievementsDep,
    subscriptions: SubscriptionsDep,
    profiles: UserProfilesDep,
) -> Response:
    """Your stats, unlocked achievements, progress toward the others, perks and limits."""
    account = await read_account(subscriptions, achievements, principal.user_id)
    profile, profile_position = await run_in_threadpool(
        profiles.get_user, principal.user_id, EVENT_STORE_NAME
    )
    settings: Settings = request.app.state.settings
    timezone = profile["timezone"] if profile else "UTC"
    position = min(account.position, profile_position)
    payload = Envelope[AchievementsOut](
        data=achievements_out(account, timezone, settings.tier_limits, datetime.now(tz=UTC)),
        meta={"position": position},
    )
    return read_response(request, payload, position)
