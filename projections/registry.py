"""The one place that lists the read models: name -> (projection, view)."""

from __future__ import annotations

from typing import Any

from projections.achievements import AchievementsProjection, AchievementsView
from projections.activity import ActivityProjection, ActivityView
from projections.base import ReadModelProjection, ReadModelView
from projections.credits import CreditsProjection, CreditsView
from projections.focus_sessions import FocusSessionsProjection, FocusSessionsView
from projections.notifications import NotificationsProjection, NotificationsView
from projections.subscriptions import SubscriptionsProjection, SubscriptionsView
from projections.task_list import TaskListProjection, TaskListView
from projections.templates import TemplatesProjection, TemplatesView
from projections.tombstones import TombstonesProjection, TombstonesView
from projections.user_profiles import UserProfilesProjection, UserProfilesView

PROJECTIONS: dict[str, tuple[type[ReadModelProjection[Any]], type[ReadModelView]]] = {
    TaskListProjection.name: (TaskListProjection, TaskListView),
    TombstonesProjection.name: (TombstonesProjection, TombstonesView),
    UserProfilesProjection.name: (UserProfilesProjection, UserProfilesView),
    ActivityProjection.name: (ActivityProjection, ActivityView),
    FocusSessionsProjection.name: (FocusSessionsProjection, FocusSessionsView),
    CreditsProjection.name: (CreditsProjection, CreditsView),
    SubscriptionsProjection.name: (SubscriptionsProjection, SubscriptionsView),
    AchievementsProjection.name: (AchievementsProjection, AchievementsView),
    NotificationsProjection.name: (NotificationsProjection, NotificationsView),
    TemplatesProjection.name: (TemplatesProjection, TemplatesView),
}


def projection_names() -> list[str]:
    return list(PROJECTIONS)
