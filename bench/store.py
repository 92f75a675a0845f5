"""A big, realistic event store, fast: the real aggregates, saved many at a time.

Users sign in through the real command (user, session, credit ledger); their tasks are the
real `Task` and `ActiveTasks` aggregates driven through their public methods (create, edit,
subtasks, notes, complete, hide, delete) with the rules of their tier, so every event is one
the service itself records. What is not like production is only the commit size: instead of
one command per transaction, `Application.save(*aggregates)` stores about 500 events in
one call of the library's recorder (one INSERT ... FROM unnest per call), with the library's
own encoding. About 1M events take a minute or two on two cores.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from aggregates.active_tasks import ActiveTasks
from aggregates.task import Task
from bench.common import say
from commands.application import PerpetuaApplication
from commands.messages import Actor, ApplyBillingEvent, CreateTask, SignIn

# Events per save() call: big enough to amortise the commit. Far bigger ones (5000) stall:
# the recorder sends them in pipeline mode, and client and server both wait to write.
SAVE_EVENTS = 500
TASKS_PER_USER = (40, 160)


@dataclass(frozen=True)
class BenchUser:
    id: UUID
    email: str


def sign_in(app: PerpetuaApplication, email: str) -> BenchUser:
    user = app.sign_in(SignIn("dev", email, email, email.partition("@")[0])).user
    return BenchUser(user.id, email)


def make_pro(app: PerpetuaApplication, user: BenchUser) -> None:
    app.apply_billing_event(
        ApplyBillingEvent(
            event_id=f"evt_bench_{user.id.hex}",
            event_type="subscription.activated",
            user_id=user.id,
            period_end=datetime.now(tz=UTC) + timedelta(days=30),
        )
    )


def reader_user(app: PerpetuaApplication, tasks: int = 60) -> BenchUser:
    """The user whose list the read benchmarks fetch: pro, `tasks` tasks, through commands."""
    user = sign_in(app, "reader@bench.example")
    make_pro(app, user)
    actor = Actor(user.id, tier="pro")
    for number in range(tasks):
        app.create_task(CreateTask(actor, title=f"read me {number}", description="a task to list"))
    return user


def writer_users(app: PerpetuaApplication, count: int) -> list[tuple[BenchUser, UUID]]:
    """Users with one task each, for the command benchmarks (each client its own task)."""
    made = []
    for number in range(count):
        user = sign_in(app, f"writer{number}@bench.example")
        task = app.create_task(CreateTask(Actor(user.id), title=f"edit me {number}")).aggregate
        made.append((user, task.id))
    return made


def _task_events(
    app: PerpetuaApplication, user: BenchUser, active: ActiveTasks, rng: random.Random
) -> Task:
    rules = app._task_rules(app.limits.for_tier("pro"))
    now = rules.now
    task = Task.create(
        owner_id=user.id,
        rules=rules,
        title=f"task {rng.randrange(10**6)}",
        description=rng.choice([None, "some words about it", "a longer description " * 5]),
        priority=rng.choice(["low", "medium", "medium", "high"]),
        due_date=rng.choice([None, now + timedelta(days=rng.randrange(1, 29))]),
        estimated_duration=rng.choice([None, 15, 30, 60, 120]),
    )
    active.activate(task.id, limit=None)
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        task.update(
            {"title": f"edited {rng.randrange(10**6)}", "priority": rng.choice(["low", "high"])},
            expected_version=task.version,
            rules=rules,
        )
    subtasks = [task.add_subtask(f"step {n}", rules=rules) for n in range(rng.choice([0, 0, 2, 4]))]
    for subtask in subtasks[: rng.randrange(len(subtasks) + 1)]:
        task.complete_subtask(subtask, at=now)
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        task.add_note("a note on how it went", rules=rules)
    roll = rng.random()
    if roll < 0.45 and not task.completed:
        task.complete(at=now, force=True)
        active.deactivate(task.id)
    elif roll < 0.55:
        task.hide()
    elif roll < 0.60:
        task.delete(at=now, recoverable_for=app.limits.tombstone_window)
        active.deactivate(task.id)
    return task


def fill(app: PerpetuaApplication, target_events: int, *, seed: int = 9) -> int:
    """Add users with tasks until the store holds at least `target_events`; returns its head."""
    rng = random.Random(seed)
    head = app.recorder.max_notification_id() or 0
    started, first = time.perf_counter(), head
    users = 0
    pending: list[Aggregate] = []
    pending_events = 0
    while head + pending_events < target_events:
        user = sign_in(app, f"user{users}-{seed}@bench.example")
        users += 1
        active = app._singleton(ActiveTasks, user.id)
        pending.append(active)
        for _ in range(rng.randrange(*TASKS_PER_USER)):
            task = _task_events(app, user, active, rng)
            pending.append(task)
            pending_events += len(task.pending_events)
        pending_events += len(active.pending_events)
        if pending_events >= SAVE_EVENTS:
            head = _save(app, pending)
            pending, pending_events = [], 0
    if pending:
        head = _save(app, pending)
    rate = (head - first) / max(time.perf_counter() - started, 1e-9)
    say(f"store at {head} events ({users} new users, {rate:,.0f} events/s)")
    return head


def _save(app: PerpetuaApplication, aggregates: list[Any]) -> int:
    recordings = app.save(*aggregates)
    return recordings[-1].notification.id if recordings else 0
