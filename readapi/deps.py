"""The read API's dependencies, defined once: views, and waiting for a client's position."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Query, Request

from infra.errors import ApiError
from projections.achievements import AchievementsView
from projections.activity import ActivityView
from projections.base import ReadModelView
from projections.credits import CreditsView
from projections.focus_sessions import FocusSessionsView
from projections.notifications import NotificationsView
from projections.subscriptions import SubscriptionsView
from projections.task_list import TaskListView
from projections.templates import TemplatesView
from projections.tombstones import TombstonesView
from projections.user_profiles import UserProfilesView
from readapi.consistency import ProjectionProgress
from readapi.history import TaskHistory

POSITION_HEADER = "X-Projection-Position"
MIN_POSITION_HEADER = "X-Min-Position"
RETRY_AFTER_SECONDS = 1


def get_progress(request: Request) -> ProjectionProgress:
    progress: ProjectionProgress = request.app.state.progress
    return progress


# The dependencies below are coroutines, though they await nothing: FastAPI runs a plain
# function dependency in a worker thread, a thread hop on every request for a lookup.


async def get_task_history(request: Request) -> TaskHistory:
    history: TaskHistory = request.app.state.task_history
    return history


TView = TypeVar("TView", bound=ReadModelView)


def view_of(kind: type[TView]) -> Callable[[Request], Awaitable[TView]]:
    """A dependency that hands out the app's view of this class."""

    async def get(request: Request) -> TView:
        view = request.app.state.views[kind.projection_name]
        assert isinstance(view, kind)
        return view

    return get


def consistent_with(*projections: str) -> Any:
    """A dependency that holds the request until `projections` reached the client's position."""

    # Plain integers with 0 for "don't wait": `int | None` would document a nullable header,
    # and a header (or query value) has no way to say null.
    async def wait(
        request: Request,
        header: Annotated[
            int, Header(alias=MIN_POSITION_HEADER, ge=0, description="Wait until this position.")
        ] = 0,
        min_position: Annotated[
            int, Query(ge=0, description="Same as the X-Min-Position header.")
        ] = 0,
    ) -> None:
        wanted = max(header, min_position)
        if wanted == 0:
            return
        progress = get_progress(request)
        timeout: float = request.app.state.settings.read_your_writes_wait_seconds
        if not await progress.wait_for(projections, wanted, timeout):
            raise ApiError(
                "PROJECTION_LAGGING",
                f"the read model has not reached position {wanted} yet; retry shortly",
                details={"min_position": wanted, "position": progress.position_of(projections)},
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )

    return Depends(wait)


TaskListDep = Annotated[TaskListView, Depends(view_of(TaskListView))]
TaskHistoryDep = Annotated[TaskHistory, Depends(get_task_history)]
ActivityDep = Annotated[ActivityView, Depends(view_of(ActivityView))]
FocusSessionsDep = Annotated[FocusSessionsView, Depends(view_of(FocusSessionsView))]
TombstonesDep = Annotated[TombstonesView, Depends(view_of(TombstonesView))]
UserProfilesDep = Annotated[UserProfilesView, Depends(view_of(UserProfilesView))]
CreditsDep = Annotated[CreditsView, Depends(view_of(CreditsView))]
SubscriptionsDep = Annotated[SubscriptionsView, Depends(view_of(SubscriptionsView))]
AchievementsDep = Annotated[AchievementsView, Depends(view_of(AchievementsView))]
NotificationsDep = Annotated[NotificationsView, Depends(view_of(NotificationsView))]
TemplatesDep = Annotated[TemplatesView, Depends(view_of(TemplatesView))]
