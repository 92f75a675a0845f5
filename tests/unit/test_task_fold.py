"""The task list's fold (a big batch applied in memory) knows every event its handlers know."""

from __future__ import annotations

from eventsourcing.domain import DomainEvent

from aggregates.task import Task
from projections.task_fold import FOLDS
from projections.task_list import TaskListProjection


def test_the_fold_applies_exactly_the_events_the_task_lists_handlers_apply() -> None:
    task_events = {
        value for value in vars(Task).values()
        if isinstance(value, type) and issubclass(value, DomainEvent)
    }  # fmt: skip
    handled = {cls for cls in task_events if TaskListProjection.handler_for(cls) is not None}

    assert len(handled) > 20
    assert set(FOLDS) == handled
