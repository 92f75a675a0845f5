"""Rules that must hold when commands race, on a real PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from aggregates.active_tasks import TaskLimitExceededError
from aggregates.credit_ledger import CreditLedger, InsufficientCreditsError
from aggregates.task_rules import VersionConflictError
from commands.messages import Actor, CreateTask, SignIn, SpendCredits, UpdateTask
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application

pytestmark = pytest.mark.integration


def test_concurrent_creates_never_exceed_the_limit(fresh_database: DatabaseAddress) -> None:
    # Two applications, as two write API processes: within one, a user's commands queue;
    # across processes they race on the count's version and the losers decide again.
    app = build_application(Settings(active_tasks_free=5), fresh_database)
    other = build_application(Settings(active_tasks_free=5), fresh_database)
    try:
        user = app.sign_in(SignIn("dev", "race@example.com", "race@example.com", "Race")).user
        actor = Actor(user.id)
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()
        start = threading.Barrier(50)

        def create(number: int) -> None:
            start.wait()
            try:
                (app, other)[number % 2].create_task(
                    CreateTask(actor=actor, title=f"task {number}")
                )
                outcome = "created"
            except TaskLimitExceededError:
                outcome = "refused"
            with lock:
                outcomes[outcome] += 1

        threads = [threading.Thread(target=create, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert outcomes == Counter(created=5, refused=45)
        stored = app.recorder.select_notifications(start=1, limit=1000)
        created_events = [n for n in stored if n.topic.endswith("Task.Created")]
        assert len(created_events) == 5
    finally:
        app.close()
        other.close()


def test_concurrent_first_sign_ins_register_the_user_once(fresh_database: DatabaseAddress) -> None:
    app = build_application(Settings(), fresh_database)
    try:
        start = threading.Barrier(6)
        user_ids: list[object] = []

        def sign_in() -> None:
            start.wait()
            signed_in = app.sign_in(SignIn("dev", "twin@example.com", "twin@example.com", "T"))
            user_ids.append(signed_in.user.id)

        threads = [threading.Thread(target=sign_in) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(user_ids) == 6
        assert len(set(user_ids)) == 1
        topics = [n.topic for n in app.recorder.select_notifications(start=1, limit=1000)]
        assert sum(topic.endswith("User.Registered") for topic in topics) == 1
        assert sum(topic.endswith("User.SignedIn") for topic in topics) == 6
    finally:
        app.close()


def test_concurrent_spends_take_exactly_the_balance_and_never_go_negative(
    fresh_database: DatabaseAddress,
) -> None:
    app = build_application(Settings(), fresh_database)
    other = build_application(Settings(), fresh_database)  # a second write API process
    try:
        user = app.sign_in(SignIn("dev", "spend@example.com", "spend@example.com", "S")).user
        actor = Actor(user.id)
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()
        start = threading.Barrier(50)

        def spend(number: int) -> None:
            start.wait()
            try:
                (app, other)[number % 2].spend_credits(SpendCredits(actor, 1, "race"))
                outcome = "spent"
            except InsufficientCreditsError:
                outcome = "refused"
            with lock:
                outcomes[outcome] += 1

        threads = [threading.Thread(target=spend, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert outcomes == Counter(spent=15, refused=35)
        # Replaying the ledger event by event, the balance never dips below zero.
        balances = []
        ledger = None
        for domain_event in app.events.get(CreditLedger.create_id(user.id)):
            ledger = domain_event.mutate(ledger)
            balances.append(ledger.total)
        assert balances[-1] == 0
        assert min(balances) == 0
    finally:
        app.close()
        other.close()


def test_concurrent_updates_of_one_version_let_exactly_one_through(
    fresh_database: DatabaseAddress,
) -> None:
    app = build_application(Settings(), fresh_database)
    other = build_application(Settings(), fresh_database)  # a second write API process
    try:
        user = app.sign_in(SignIn("dev", "edit@example.com", "edit@example.com", "E")).user
        actor = Actor(user.id)
        task = app.create_task(CreateTask(actor=actor, title="draft")).aggregate
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()
        start = threading.Barrier(50)

        def update(number: int) -> None:
            start.wait()
            change = UpdateTask(actor, task.id, version=1, changes={"title": f"edit {number}"})
            try:
                (app, other)[number % 2].update_task(change)
                outcome = "updated"
            except VersionConflictError:
                outcome = "conflict"
            with lock:
                outcomes[outcome] += 1

        threads = [threading.Thread(target=update, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert outcomes == Counter(updated=1, conflict=49)
        assert app.repository.get(task.id).version == 2
    finally:
        app.close()
        other.close()
