"""Where each projection stands against the store: for `perpetua projections status`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import PersistenceError

from projections.base import ReadModelView


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    head: int
    lag_events: int
    # Age of the oldest event the projection has not applied yet; 0 when up to date.
    lag_seconds: float
    state: str  # "up to date", "behind" or "not created"


def projection_statuses(
    app: Application[Any], views: Mapping[str, ReadModelView], now: datetime
) -> list[ProjectionStatus]:
    head = app.recorder.max_notification_id() or 0
    statuses = []
    for name, view in views.items():
        try:
            position = view.max_tracking_id(app.name) or 0
        except PersistenceError:
            statuses.append(ProjectionStatus(name, 0, head, head, 0.0, "not created"))
            continue
        lag_events = max(head - position, 0)
        lag_seconds = 0.0
        if lag_events:
            oldest = app.recorder.select_notifications(
                start=position, limit=1, inclusive_of_start=False
            )
            if oldest:
                waiting_since = app.mapper.to_domain_event(oldest[0]).timestamp  # type: ignore[attr-defined]
                lag_seconds = max((now - waiting_since).total_seconds(), 0.0)
        state = "behind" if lag_events else "up to date"
        statuses.append(ProjectionStatus(name, position, head, lag_events, lag_seconds, state))
    return statuses
