"""Your credits: what you can spend now, and every change that led there."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from aggregates.credit_ledger import SPEND_ORDER
from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import ApiError, error_responses
from infra.settings import Settings
from projections.cursors import InvalidCursorError
from readapi.account import balance_out, read_account
from readapi.deps import AchievementsDep, CreditsDep, SubscriptionsDep, consistent_with
from readapi.responses import read_response
from readapi.schemas import BalanceOut, CreditTransactionOut

router = APIRouter(prefix="/credits", tags=["credits"])


@router.get(
    "/balance",
    response_model=Envelope[BalanceOut],
    responses=error_responses("PROJECTION_LAGGING"),
    # The tier and the perks decide today's daily allowance.
    dependencies=[consistent_with("credits", "subscriptions", "achievements")],
)
async def balance(
    request: Request,
    principal: CurrentPrincipal,
    credits: CreditsDep,
    subscriptions: SubscriptionsDep,
    achievements: AchievementsDep,
) -> Response:
    """Your credits usable now, per kind and in total, and when the daily ones renew."""
    ledger, ledger_position = await run_in_threadpool(
        credits.balance, principal.user_id, EVENT_STORE_NAME
    )
    account = await read_account(subscriptions, achievements, principal.user_id)
    settings: Settings = request.app.state.settings
    position = min(ledger_position, account.position)
    payload = Envelope[BalanceOut](
        data=balance_out(ledger, account, settings.tier_limits, datetime.now(tz=UTC)),
        meta={"position": position},
    )
    return read_response(request, payload, position)


@router.get(
    "/history",
    response_model=Envelope[list[CreditTransactionOut]],
    responses=error_responses("VALIDATION_ERROR", "PROJECTION_LAGGING"),
    dependencies=[consistent_with("credits")],
)
async def history(
    request: Request,
    principal: CurrentPrincipal,
    credits: CreditsDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """Every grant, spend, refund and expiry of your credits, newest first."""
    try:
        page = await run_in_threadpool(
            credits.history, principal.user_id, EVENT_STORE_NAME, cursor=cursor, limit=limit
        )
    except InvalidCursorError as error:
        raise ApiError(
            "VALIDATION_ERROR", str(error), details={"fields": [{"loc": ["query", "cursor"]}]}
        ) from None
    payload = Envelope[list[CreditTransactionOut]](
        data=[transaction_out(row) for row in page.rows],
        meta={"next_cursor": page.next_cursor, "limit": limit, "position": page.position},
    )
    return read_response(request, payload, page.position)


def transaction_out(row: dict[str, Any]) -> CreditTransactionOut:
    split = {kind: row[kind] for kind in SPEND_ORDER if row[kind]}
    return CreditTransactionOut.model_validate({**row, "split": split})
