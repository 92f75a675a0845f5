"""The one place that lists the read models: name -> (projection, view)."""

from __future__ import annotations

from typing import Any

from projections.activity import ActivityProjection, ActivityView
from projections.base import ReadModelProjection, ReadModelView
from projections.focus_sessions import FocusSessionsProjection, FocusSessionsView
from projections.task_list import TaskListProjection, TaskListView
from projections.tombstones import TombstonesProjection, TombstonesView
from projections.user_profiles import UserProfilesProjection, UserProfilesView

PROJECTIONS: dict[str, tuple[type[ReadModelProjection[Any]], type[ReadModelView]]] = {
    TaskListProjection.name: (TaskListProjection, TaskListView),
    TombstonesProjection.name: (TombstonesProjection, TombstonesView),
    UserProfilesProjection.name: (UserProfilesProjection, UserProfilesView),
    ActivityProjection.name: (ActivityProjection, ActivityView),
    FocusSessionsProjection.name: (FocusSessionsProjection, FocusSessionsView),
}


def projection_names() -> list[str]:
    return list(PROJECTIONS)
