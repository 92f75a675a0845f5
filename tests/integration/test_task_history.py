"""A task's history read while the task changes: every entry has its position, no 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.domain import Aggregate

from commands.application import PerpetuaApplication
from commands.messages import Actor, CreateTask, HideTask, SignIn
from infra.database import DatabaseAddress
from readapi.history import EventStoreReader, TaskHistory

pytestmark = pytest.mark.integration


@pytest.fixture
def history(fresh_database: DatabaseAddress) -> Iterator[TaskHistory]:
    reader = EventStoreReader(env=fresh_database.eventsourcing_env())
    yield TaskHistory(reader)
    reader.close()


def test_an_event_appended_while_the_history_is_read_does_not_break_it(
    application: PerpetuaApplication, history: TaskHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = application.sign_in(SignIn("dev", "h@example.com", "h@example.com", "H")).user
    actor = Actor(user.id)
    task = application.create_task(CreateTask(actor=actor, title="Plan")).aggregate
    read_events = history._events

    def events_while_someone_writes(task_id: object) -> list[Aggregate.Event]:
        # The scheduler fires, or the user clicks, in the middle of the read.
        application.hide_task(HideTask(actor, task.id))
        return read_events(task.id)

    monkeypatch.setattr(history, "_events", events_while_someone_writes)

    entries = history.events(user.id, task.id)

    assert [entry.type for entry in entries] == ["Task.Created", "Task.Hidden"]
    assert all(entry.position > 0 for entry in entries)
