"""The read API's dependencies, defined once: views, and waiting for a client's position."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Query, Request

from infra.errors import ApiError
from projections.activity import ActivityView
from projections.base import ReadModelView
from projections.focus_sessions import FocusSessionsView
from projections.task_list import TaskListView
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


def get_task_history(request: Request) -> TaskHistory:
    history: TaskHistory = request.app.state.task_history
    return history


TView = TypeVar("TView", bound=ReadModelView)


def view_of(kind: type[TView]) -> Callable[[Request], TView]:
    """A dependency that hands out the app's view of this class."""

    def get(request: Request) -> TView:
        view = request.app.state.views[kind.projection_name]
        assert isinstance(view, kind)
        return view

    return get


def consistent_with(*projections: str) -> Any:
    """A dependency that holds the request until `projections` reached the client's position."""

    async def wait(
        request: Request,
        header: Annotated[
            int | None,
            Header(alias=MIN_POSITION_HEADER, ge=0, description="Wait until this position."),
        ] = None,
        min_position: Annotated[
            int | None, Query(ge=0, description="Same as the X-Min-Position header.")
        ] = None,
    ) -> None:
        wanted = max(header or 0, min_position or 0)
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
