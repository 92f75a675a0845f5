"""The event store as an application without commands: what only reads the store needs.

The write model (`commands.application.PerpetuaApplication`) is this with its command handlers.
A process that only reads the store or creates its tables (a rebuild, the projectors, the
operators' commands) builds this one instead, without importing the handlers and the AI
providers' SDKs they bring (~0.2 s of start-up, decision 101). Both are the one application of
the store: the same name (the library prefixes the environment's names with it, and the
projections' tracking rows record it), the same tables, the same events.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import MutableOrImmutableAggregate

from aggregates.achievements import Achievements
from aggregates.active_tasks import ActiveTasks
from aggregates.ai_usage import AiUsage
from aggregates.credit_ledger import CreditLedger
from aggregates.inbox import Inbox
from aggregates.template import TaskTemplate
from aggregates.user import User
from infra.database import EVENT_STORE_NAME, EVENTS_SCHEMA


class StoreApplication(Application[UUID]):
    # Named here and again by every subclass that is the store: the library names a subclass
    # after its class unless it says otherwise.
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
