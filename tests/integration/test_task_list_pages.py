"""Keyset pagination of the task list: every sort order, ties and missing due dates."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from commands.messages import Actor, CreateTask, SignIn
from infra.database import EVENT_STORE_NAME, DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application, build_views
from projections.task_list import PRIORITY_RANK, TaskListQuery, TaskListView
from tests.conftest import DatabaseFactory
from tests.integration.support import project

pytestmark = pytest.mark.integration

SORTS = ["created_at", "updated_at", "due_date", "priority"]
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


@pytest.fixture(scope="module")
def listed(databases: DatabaseFactory) -> Iterator[tuple[TaskListView, UUID]]:
    """30 tasks with clashing priorities and due dates, projected; the view and their owner."""
    address: DatabaseAddress = databases.create()
    app = build_application(Settings(), address)
    owner = app.sign_in(SignIn("dev", "pages@example.com", "pages@example.com", "P")).user.id
    actor = Actor(owner, tier="pro")
    chooser = random.Random(7)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    due_dates = [None, soon, soon + timedelta(days=1)]
    for number in range(30):
        app.create_task(
            CreateTask(
                actor=actor,
                title=f"task {number}",
                priority=chooser.choice(list(PRIORITY_RANK)),
                due_date=chooser.choice(due_dates),
            )
        )
    project(address, app, ["task_list"])
    view = build_views(address, ["task_list"])["task_list"]
    assert isinstance(view, TaskListView)
    yield view, owner
    view.datastore.close()
    app.close()


def sort_key(row: dict[str, Any], field: str) -> Any:
    if field == "priority":
        return PRIORITY_RANK[row["priority"]]
    if field == "due_date":
        return row["due_date"] or FAR_FUTURE
    return row[field]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("field", SORTS)
@pytest.mark.parametrize("limit", [1, 4, 7, 100])
def test_pages_list_every_task_once_in_sort_order(
    listed: tuple[TaskListView, UUID], field: str, descending: bool, limit: int
) -> None:
    view, owner = listed
    sort = f"-{field}" if descending else field
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(40):
        page = view.list_tasks(
            TaskListQuery(owner_id=owner, sort=sort, cursor=cursor, limit=limit), EVENT_STORE_NAME
        )
        assert len(page.rows) <= limit
        seen += page.rows
        cursor = page.next_cursor
        if cursor is None:
            break
    expected = sorted(seen, key=lambda row: (sort_key(row, field), row["id"]), reverse=descending)
    assert len(seen) == 30
    assert len({row["id"] for row in seen}) == 30
    assert [row["id"] for row in seen] == [row["id"] for row in expected]


def test_a_cursor_of_another_sort_order_is_refused(listed: tuple[TaskListView, UUID]) -> None:
    view, owner = listed
    page = view.list_tasks(
        TaskListQuery(owner_id=owner, sort="priority", limit=2), EVENT_STORE_NAME
    )
    assert page.next_cursor is not None
    with pytest.raises(ValueError, match="another sort order"):
        view.list_tasks(
            TaskListQuery(owner_id=owner, sort="due_date", cursor=page.next_cursor),
            EVENT_STORE_NAME,
        )
