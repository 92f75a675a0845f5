"""Everything of yours that changed since a position: one call for a client to catch up."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import error_responses
from infra.settings import Settings
from readapi.deps import TaskListDep, UserProfilesDep, consistent_with
from readapi.responses import read_response
from readapi.schemas import MeOut, SyncOut, TaskOut

router = APIRouter(
    prefix="/sync", tags=["sync"], dependencies=[consistent_with("task_list", "user_profiles")]
)

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
    since: Annotated[int, Query(ge=0, description="The `position` of your last sync.")] = 0,
) -> Response:
    """Tasks changed or deleted, and your profile if it changed, after `since`.

    Send the answer's `position` as the next `since`; with `has_more`, call again at once.
    """
    rows, tasks_position = await run_in_threadpool(
        tasks.changed_since, principal.user_id, since, PAGE_SIZE + 1, EVENT_STORE_NAME
    )
    profile, profiles_position = await run_in_threadpool(
        profiles.get_user, principal.user_id, EVENT_STORE_NAME
    )
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    # Nothing after `position` may be missed: it is no further than what both reads saw,
    # and no further than the last task handed out when the page is full.
    position = min(tasks_position, profiles_position)
    if has_more:
        position = rows[-1]["last_position"]
    position = max(position, since)
    settings: Settings = request.app.state.settings
    changed_profile = None
    if profile is not None and since < profile["last_position"] <= position:
        limits = settings.tier_limits.get(profile["tier"], settings.tier_limits["free"])
        changed_profile = MeOut.model_validate({**profile, "limits": limits})
    payload = Envelope[SyncOut](
        data=SyncOut(
            tasks=[TaskOut.model_validate(r) for r in rows if not r["deleted"]],
            deleted_task_ids=[r["id"] for r in rows if r["deleted"]],
            profile=changed_profile,
            position=position,
            has_more=has_more,
        ),
        meta={"position": position},
    )
    return read_response(request, payload, position)
