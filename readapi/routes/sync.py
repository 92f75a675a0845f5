"""Everything of yours that changed since a position: one call for a client to catch up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import error_responses
from infra.settings import Settings
from readapi.account import (
    achievements_out,
    balance_out,
    me_out,
    notification_out,
    read_account,
)
from readapi.deps import (
    AchievementsDep,
    CreditsDep,
    NotificationsDep,
    SubscriptionsDep,
    TaskListDep,
    UserProfilesDep,
    consistent_with,
)
from readapi.responses import read_response
from readapi.schemas import SyncOut, TaskOut

SYNCED = ("task_list", "user_profiles", "credits", "subscriptions", "achievements", "notifications")

router = APIRouter(prefix="/sync", tags=["sync"], dependencies=[consistent_with(*SYNCED)])

PAGE_SIZE = 500


@router.get(
    "",
    response_model=Envelope[SyncOut],
    responses=error_responses("VALIDATION_ERROR", "PROJECTION_LAGGING"),
)
async def sync(
    request: Request,
    principal: CurrentPrincipal,
    tasks: TaskListDep,
    profiles: UserProfilesDep,
    credits: CreditsDep,
    subscriptions: SubscriptionsDep,
    achievements: AchievementsDep,
    notifications: NotificationsDep,
    since: Annotated[int, Query(ge=0, description="The `position` of your last sync.")] = 0,
) -> Response:
    """Tasks changed or deleted, notifications posted or read, and your profile, balance and
    achievements if they changed, after `since`.

    Send the answer's `position` as the next `since`; with `has_more`, call again at once.
    """
    user_id = principal.user_id
    rows, tasks_position = await run_in_threadpool(
        tasks.changed_since, user_id, since, PAGE_SIZE + 1, EVENT_STORE_NAME
    )
    posted, more_posted, posted_position = await run_in_threadpool(
        notifications.changed_since, user_id, since, PAGE_SIZE, EVENT_STORE_NAME
    )
    profile, profiles_position = await run_in_threadpool(
        profiles.get_user, user_id, EVENT_STORE_NAME
    )
    ledger, ledger_position = await run_in_threadpool(credits.balance, user_id, EVENT_STORE_NAME)
    account = await read_account(subscriptions, achievements, user_id)
    more_tasks = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    # Nothing after `position` may be missed: it is no further than what every read saw,
    # and no further than the last change handed out of a list that was cut short.
    position = min(
        tasks_position, posted_position, profiles_position, ledger_position, account.position
    )
    if more_tasks:
        position = min(position, rows[-1]["last_position"])
    if more_posted:
        position = min(position, posted[-1]["last_position"])
    position = max(position, since)

    def changed(*sources: dict[str, Any] | None) -> bool:
        """Changed in (since, position]; a first sync (since 0) has everything, rows or not."""
        return since == 0 or any(
            row is not None and since < row["last_position"] <= position for row in sources
        )

    # Tier and perks come from the subscription and achievements: they change the profile's
    # limits and the daily allowance too.
    moved = (account.subscription, account.stats)
    settings: Settings = request.app.state.settings
    now = datetime.now(tz=UTC)
    timezone = profile["timezone"] if profile else "UTC"
    payload = Envelope[SyncOut](
        data=SyncOut(
            tasks=[TaskOut.model_validate(r) for r in rows if not r["deleted"]],
            deleted_task_ids=[r["id"] for r in rows if r["deleted"]],
            profile=(
                me_out(profile, account, settings.tier_limits, now)
                if profile is not None and changed(profile, *moved)
                else None
            ),
            balance=(
                balance_out(ledger, account, settings.tier_limits, now)
                if changed(ledger, *moved)
                else None
            ),
            notifications=[notification_out(row) for row in posted],
            achievements=(
                achievements_out(account, timezone, settings.tier_limits, now)
                if changed(profile, *moved)
                else None
            ),
            position=position,
            has_more=more_tasks or more_posted,
        ),
        meta={"position": position},
    )
    return read_response(request, payload, position)
