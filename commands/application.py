"""The write model: one eventsourcing Application, one global sequence of events.

Its command handlers live by subject in identity.py, tasks.py, subtasks.py, notes.py,
reminders.py, templates.py, focus.py, credits.py, notifications.py and ai.py; this class puts them
together under the store's name.
"""

from __future__ import annotations

from commands.ai import AiCommands
from commands.credits import CreditCommands
from commands.focus import FocusCommands
from commands.identity import IdentityCommands
from commands.notes import NoteCommands
from commands.notifications import NotificationCommands
from commands.reminders import ReminderCommands
from commands.subtasks import SubtaskCommands
from commands.templates import TemplateCommands
from infra.database import EVENT_STORE_NAME


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
    name = EVENT_STORE_NAME  # the store's (see StoreApplication), not the class's
