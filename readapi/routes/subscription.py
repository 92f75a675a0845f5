"""Your subscription, and the tier it gives you now."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import error_responses
from readapi.account import subscription_out
from readapi.deps import SubscriptionsDep, consistent_with
from readapi.responses import read_response
from readapi.schemas import SubscriptionOut

router = APIRouter(
    prefix="/subscription",
    tags=["subscription"],
    dependencies=[consistent_with("subscriptions")],
)


@router.get(
    "",
    response_model=Envelope[SubscriptionOut],
    responses=error_responses("PROJECTION_LAGGING"),
)
async def subscription(
    request: Request, principal: CurrentPrincipal, view: SubscriptionsDep
) -> Response:
    """Your tier and subscription status now: pro until the paid period ends."""
    row, position = await run_in_threadpool(
        view.get_subscription, principal.user_id, EVENT_STORE_NAME
    )
    payload = Envelope[SubscriptionOut](
        data=subscription_out(row, datetime.now(tz=UTC)), meta={"position": position}
    )
    return read_response(request, payload, position)
