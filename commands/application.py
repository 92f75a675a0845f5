"""The write model: one eventsourcing Application, one global sequence of events.

Its command handlers live by subject in identity.py, tasks.py, subtasks.py, notes.py,
reminders.py, templates.py, focus.py, credits.py, notifications.py and ai.py; this class puts them
together under the store's name.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.domain import MutableOrImmutableAggregate

from aggregates.achievements import Achievements
from aggregates.active_tasks import ActiveTasks
from aggregates.ai_usage import AiUsage
from aggregates.credit_ledger import CreditLedger
from aggregates.inbox import Inbox
from aggregates.template import TaskTemplate
from aggregates.user import User
from commands.ai import AiCommands
from commands.credits import CreditCommands
from commands.focus import FocusCommands
from commands.identity import IdentityCommands
from commands.notes import NoteCommands
from commands.notifications import NotificationCommands
from commands.reminders import ReminderCommands
from commands.subtasks import SubtaskCommands
from commands.templates import TemplateCommands
from infra.database import EVENT_STORE_NAME, EVENTS_SCHEMA


class PerpetuaApplication(
    AiCommands,
    IdentityCommands,
    SubtaskCommands,
    NoteCommands,
    ReminderCommands,
    TemplateCommands,
    FocusCommands,
    CreditCommands,
    NotificationCommands,
):
    name = EVENT_STORE_NAME
    env: ClassVar[dict[str, str]] = {"POSTGRES_SCHEMA": EVENTS_SCHEMA}
    # Per-user singletons live as long as their user: snapshots keep loading them cheap.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {
        ActiveTasks: 100,
        User: 100,
        CreditLedger: 100,
        Achievements: 100,
        Inbox: 100,
        AiUsage: 100,
        # A template records every occurrence it meets: an hourly one, thousands a year.
        TaskTemplate: 100,
    }
