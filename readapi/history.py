"""A task's history and past versions, straight from the event store (not a projection).

The read API opens the store read-only through an eventsourcing Application of the same name
as the write model's, so `repository.get(id, version=N)` replays the `Task` exactly as the
write side would have seen it at version N.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from aggregates.errors import DomainError
from aggregates.task import Task
from aggregates.task_rules import TaskNotFoundError
from infra.database import EVENT_STORE_NAME, EVENTS_SCHEMA

# Event attributes every event has; the history shows them as fields of their own.
_ENVELOPE_FIELDS = frozenset({"originator_id", "originator_version", "timestamp"})


class VersionNotFoundError(DomainError):
    code = "NOT_FOUND"


class EventStoreReader(Application[UUID]):
    """The store, as the read side sees it: it never saves, and never creates tables."""

    name = EVENT_STORE_NAME
    env = {"POSTGRES_SCHEMA": EVENTS_SCHEMA, "CREATE_TABLE": "n"}


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    position: int
    type: str
    occurred_at: datetime
    actor: UUID
    data: dict[str, Any]


class TaskHistory:
    def __init__(self, reader: EventStoreReader) -> None:
        self.reader = reader
        recorder = reader.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        self._datastore = recorder.datastore
        self._positions = SQL(
            "SELECT originator_version, notification_id FROM {}.{} WHERE originator_id = %s"
        ).format(Identifier(EVENTS_SCHEMA), Identifier(recorder.events_table_name))

    def events(self, owner_id: UUID, task_id: UUID) -> list[HistoryEntry]:
        """Every event of the task, oldest first, with its store position."""
        task = self._owned_task(owner_id, task_id)
        # Events first, positions after: an event appended between the two reads then has a
        # position but no entry, never an entry without its position.
        events = self._events(task_id)
        with self._datastore.transaction(commit=False) as cursor:
            rows = cursor.execute(self._positions, (task_id,)).fetchall()
        positions = {row["originator_version"]: row["notification_id"] for row in rows}
        return [
            _entry(event, positions[event.originator_version], task.owner_id) for event in events
        ]

    def task_at(
        self, owner_id: UUID, task_id: UUID, *, version: int | None, as_of: datetime | None
    ) -> Task:
        """The task as it was at `version`, or at the instant `as_of`."""
        current = self._owned_task(owner_id, task_id)
        if as_of is not None:
            versions = [e.originator_version for e in self._events(task_id) if e.timestamp <= as_of]
            if not versions:
                raise VersionNotFoundError("the task did not exist yet at that time")
            version = versions[-1]
        if version is None or version == current.version:
            return current
        if version > current.version:
            raise VersionNotFoundError(f"the task has no version {version}")
        past: Task = self.reader.repository.get(task_id, version=version)
        return past

    def _events(self, task_id: UUID) -> list[Aggregate.Event]:
        return cast("list[Aggregate.Event]", list(self.reader.events.get(task_id)))

    def _owned_task(self, owner_id: UUID, task_id: UUID) -> Task:
        task: Task | None
        try:
            task = self.reader.repository.get(task_id)
        except AggregateNotFoundError:
            task = None
        if not isinstance(task, Task) or task.owner_id != owner_id:
            raise TaskNotFoundError("task not found")
        return task


def _entry(event: Aggregate.Event, position: int, actor: UUID) -> HistoryEntry:
    data = {k: v for k, v in vars(event).items() if k not in _ENVELOPE_FIELDS}
    return HistoryEntry(
        version=event.originator_version,
        position=position,
        type=type(event).__qualname__,
        occurred_at=event.timestamp,
        actor=actor,
        data=data,
    )
