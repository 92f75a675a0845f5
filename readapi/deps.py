"""The read API's dependencies, defined once: views, and waiting for a client's position."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request

from infra.errors import ApiError
from projections.activity import ActivityView
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


def get_task_list(request: Request) -> TaskListView:
    view: TaskListView = request.app.state.views["task_list"]
    return view


def get_task_history(request: Request) -> TaskHistory:
    history: TaskHistory = request.app.state.task_history
    return history


def get_tombstones(request: Request) -> TombstonesView:
    view: TombstonesView = request.app.state.views["tombstones"]
    return view


def get_user_profiles(request: Request) -> UserProfilesView:
    view: UserProfilesView = request.app.state.views["user_profiles"]
    return view


def get_activity(request: Request) -> ActivityView:
    view: ActivityView = request.app.state.views["activity"]
    return view


def get_focus_sessions(request: Request) -> FocusSessionsView:
    view: FocusSessionsView = request.app.state.views["focus_sessions"]
    return view


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


TaskListDep = Annotated[TaskListView, Depends(get_task_list)]
TaskHistoryDep = Annotated[TaskHistory, Depends(get_task_history)]
ActivityDep = Annotated[ActivityView, Depends(get_activity)]
FocusSessionsDep = Annotated[FocusSessionsView, Depends(get_focus_sessions)]
TombstonesDep = Annotated[TombstonesView, Depends(get_tombstones)]
UserProfilesDep = Annotated[UserProfilesView, Depends(get_user_profiles)]
