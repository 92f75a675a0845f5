"""The scheduler: what happens because time passes (reminders, recurring templates, and the
refund of AI requests that died half-way and were never retried).

Every tick asks the read model what has come due (pending reminders whose time has passed,
templates whose next occurrence has) and sends one command per item. The read model only
finds the work; it may lag, so the aggregates decide: a reminder that already fired, or an
occurrence that already has its task, records nothing. That is also what makes two schedulers
safe: both may send the same command, the store's optimistic concurrency lets one win, and
the other finds nothing left to do. After downtime, the first tick finds everything that fell
due meanwhile (reminders fire, marked late).

Unlike the projections, the scheduler writes to the event store, so it sends commands: it
imports their messages (an arrow pointing down; commands never import projectors).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from aggregates.task import FireOutcome
from aggregates.template import RunOutcome
from commands.messages import FireReminder, RunTemplate
from infra.metrics import SCHEDULER_LAG, SCHEDULER_LAST_TICK
from projections.reminder_rows import DueReminder
from projections.templates import DueTemplate

logger = logging.getLogger(__name__)

# Items handled per tick and kind; more wait for the next tick (a few seconds later).
BATCH_SIZE = 500
TCommand = TypeVar("TCommand")
NOTHING = "none"  # the aggregate found nothing to do (fired already, not due after all)
# A command that committed under an Idempotency-Key and stayed unanswered this long died
# half-way (a live one renews its claim every few seconds); its client did not retry.
SWEEP_AFTER = timedelta(minutes=2)


class SchedulerCommands(Protocol):
    """The write model, as far as the scheduler uses it."""

    def fire_reminder(self, command: FireReminder) -> FireOutcome | None: ...

    def run_template(self, command: RunTemplate) -> RunOutcome | None: ...

    def sweep_interrupted(self, *, idle_for: timedelta, limit: int) -> int: ...


@dataclass(frozen=True)
class TickReport:
    """What one tick did, by outcome: fired, created, skipped, failed (nothing to do: none)."""

    reminders: dict[str, int]
    templates: dict[str, int]
    interrupted: int = 0  # unanswered commands looked at (AI spends among them refunded)

    @property
    def acted(self) -> bool:
        return bool(self.reminders or self.templates or self.interrupted)


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


class Scheduler:
    def __init__(
        self,
        commands: SchedulerCommands,
        *,
        due_reminders: Callable[[datetime, int], list[DueReminder]],
        due_templates: Callable[[datetime, int], list[DueTemplate]],
        clock: Callable[[], datetime] = utc_now,
        batch_size: int = BATCH_SIZE,
        sweep_after: timedelta = SWEEP_AFTER,
    ) -> None:
        self.commands = commands
        self.sweep_after = sweep_after
        self.due_reminders = due_reminders
        self.due_templates = due_templates
        self.clock = clock
        self.batch_size = batch_size

    def tick(self) -> TickReport:
        """Send a command for everything due now. One item failing does not stop the rest."""
        now = self.clock()
        reminders = self.due_reminders(now, self.batch_size)
        templates = self.due_templates(now, self.batch_size)
        waiting = [r.fires_at for r in reminders] + [t.next_occurrence_at for t in templates]
        SCHEDULER_LAG.set(max((now - min(waiting)).total_seconds(), 0.0) if waiting else 0.0)
        fired: Counter[str] = Counter()
        for reminder in reminders:
            command = FireReminder(reminder.task_id, reminder.reminder_id)
            fired[self._attempt(self.commands.fire_reminder, command)] += 1
        made: Counter[str] = Counter()
        for template in templates:
            run = RunTemplate(template.template_id)
            made[self._attempt(self.commands.run_template, run)] += 1
        interrupted = self._sweep()
        SCHEDULER_LAST_TICK.set_to_current_time()
        return TickReport(_acted(fired), _acted(made), interrupted)

    def _sweep(self) -> int:
        try:
            return self.commands.sweep_interrupted(idle_for=self.sweep_after, limit=self.batch_size)
        except Exception:
            logger.exception("scheduler could not sweep interrupted requests")
            return 0

    def run(self, stop: threading.Event, interval: float) -> None:
        """Tick every `interval` seconds until `stop` is set; a failed tick is tried again."""
        logger.info("scheduler running, a tick every %.1f s", interval)
        while not stop.is_set():
            started = time.monotonic()
            try:
                report = self.tick()
                if report.acted:
                    logger.info(
                        "scheduler tick: reminders %s, templates %s, interrupted requests %d",
                        report.reminders,
                        report.templates,
                        report.interrupted,
                    )
            except Exception:  # the database may be briefly away; the next tick tries again
                logger.exception("scheduler tick failed; trying again in %.1f s", interval)
            stop.wait(max(interval - (time.monotonic() - started), 0.0))

    @staticmethod
    def _attempt(handle: Callable[[TCommand], str | None], command: TCommand) -> str:
        try:
            return handle(command) or NOTHING
        except Exception:
            # Logged; the next tick finds the item again while it is still due.
            logger.exception("scheduler could not handle %s", command)
            return "failed"


def _acted(outcomes: Counter[str]) -> dict[str, int]:
    return {outcome: n for outcome, n in outcomes.items() if outcome != NOTHING}
