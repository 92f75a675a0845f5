"""Rules that must hold when commands race, on a real PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from aggregates.active_tasks import TaskLimitExceededError
from commands.messages import Actor, CreateTask, SignIn
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application

pytestmark = pytest.mark.integration


def test_concurrent_creates_never_exceed_the_limit(fresh_database: DatabaseAddress) -> None:
    app = build_application(Settings(active_tasks_free=5), fresh_database)
    try:
        user = app.sign_in(SignIn("dev", "race@example.com", "race@example.com", "Race")).user
        actor = Actor(user.id)
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()
        start = threading.Barrier(12)

        def create(number: int) -> None:
            start.wait()
            try:
                app.create_task(CreateTask(actor=actor, title=f"task {number}"))
                outcome = "created"
            except TaskLimitExceededError:
                outcome = "refused"
            with lock:
                outcomes[outcome] += 1

        threads = [threading.Thread(target=create, args=(n,)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert outcomes == Counter(created=5, refused=7)
        stored = app.recorder.select_notifications(start=1, limit=1000)
        created_events = [n for n in stored if n.topic.endswith("Task.Created")]
        assert len(created_events) == 5
    finally:
        app.close()


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
