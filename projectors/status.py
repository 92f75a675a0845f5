"""Where each projection stands against the store: for `perpetua projections status`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, PersistenceError

from projections.base import ReadModelView
from projections.failures import ProjectionFailure


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    head: int
    lag_events: int
    # Age of the oldest event the projection has not applied yet; 0 when up to date.
    lag_seconds: float
    # "up to date", "behind", "failing" (retrying an event), "failed" (stopped at it until it
    # is skipped) or "not created".
    state: str
    # While failing: the event it cannot apply, the error, and how many tries so far.
    failing_position: int | None = None
    failing_event_type: str | None = None
    error: str | None = None
    attempts: int = 0


def projection_statuses(
    app: Application[Any],
    views: Mapping[str, ReadModelView],
    failures: Mapping[str, ProjectionFailure],
    now: datetime,
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
                lag_seconds = _seconds_waiting(app, oldest[0], now)
        state = "behind" if lag_events else "up to date"
        status = ProjectionStatus(name, position, head, lag_events, lag_seconds, state)
        failure = failures.get(name)
        # A failure at or below the position has been applied since (a fix, a rebuild).
        if failure is not None and failure.position > position:
            status = replace(
                status,
                state="failed" if failure.gave_up else "failing",
                failing_position=failure.position,
                failing_event_type=failure.event_type,
                error=failure.error,
                attempts=failure.attempts,
            )
        statuses.append(status)
    return statuses


def _seconds_waiting(app: Application[Any], oldest: Notification, now: datetime) -> float:
    try:
        waiting_since: datetime = app.mapper.to_domain_event(oldest).timestamp  # type: ignore[attr-defined]
    except Exception:  # an event that no longer decodes: its projection says `failing`
        return 0.0
    return max((now - waiting_since).total_seconds(), 0.0)
