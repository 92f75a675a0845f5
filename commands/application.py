"""The write model: one eventsourcing Application, one global sequence of events.

Its command handlers live by subject in identity.py, tasks.py, subtasks.py, notes.py and
focus.py; this class puts them together under the store's name.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.domain import MutableOrImmutableAggregate

from aggregates.active_tasks import ActiveTasks
from commands.focus import FocusCommands
from commands.identity import IdentityCommands
from commands.notes import NoteCommands
from commands.subtasks import SubtaskCommands
from infra.database import EVENT_STORE_NAME, EVENTS_SCHEMA


class PerpetuaApplication(IdentityCommands, SubtaskCommands, NoteCommands, FocusCommands):
    name = EVENT_STORE_NAME
    env: ClassVar[dict[str, str]] = {"POSTGRES_SCHEMA": EVENTS_SCHEMA}
    # A per-user counter lives as long as its user: snapshots keep loading it cheap.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {
        ActiveTasks: 100
    }
