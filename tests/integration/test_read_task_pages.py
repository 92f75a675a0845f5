"""The read API's async task pages answer exactly what the task list view and `TaskOut` give."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import TypeAdapter

from commands.messages import Actor, CompleteTask, CreateTask, SignIn
from infra.database import EVENT_STORE_NAME, DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application, build_views
from projections.cursors import InvalidCursorError
from projections.task_list import TaskListQuery, TaskListView
from readapi.schemas import TaskOut
from readapi.task_pages import TaskPages
from tests.conftest import DatabaseFactory
from tests.integration.support import project

pytestmark = pytest.mark.integration

SORTS = ["created_at", "updated_at", "due_date", "priority"]
_MODELS: TypeAdapter[list[TaskOut]] = TypeAdapter(list[TaskOut])


@pytest.fixture(scope="module")
def listed(databases: DatabaseFactory) -> Iterator[tuple[DatabaseAddress, TaskListView, UUID]]:
    """12 tasks of one owner, some with descriptions, due dates, completed, odd text."""
    address = databases.create()
    app = build_application(Settings(), address)
    owner = app.sign_in(SignIn("dev", "async@example.com", "async@example.com", "A")).user.id
    actor = Actor(owner, tier="pro")
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    for number in range(12):
        created = app.create_task(
            CreateTask(
                actor=actor,
                title=f'tâche {number} "quoted" \\ {"😀" if number % 3 else ""}',
                description=None if number % 2 else f"line one\nline two {number}",
                priority=("low", "medium", "high")[number % 3],
                due_date=None if number % 4 == 0 else soon + timedelta(hours=number % 3),
                estimated_duration=None if number % 5 else 30,
            )
        )
        if number % 4 == 1:
            app.complete_task(CompleteTask(actor, created.aggregate.id))
    project(address, app, ["task_list"])
    view = build_views(address, ["task_list"])["task_list"]
    assert isinstance(view, TaskListView)
    yield address, view, owner
    view.datastore.close()
    app.close()


def expected(view: TaskListView, query: TaskListQuery) -> tuple[bytes, str | None, int]:
    """What the view and the models answer: the JSON of the rows, next cursor, position."""
    page = view.list_tasks(query, EVENT_STORE_NAME)
    return _MODELS.dump_json(_MODELS.validate_python(page.rows)), page.next_cursor, page.position


def answers(
    address: DatabaseAddress, view: TaskListView, queries: list[TaskListQuery]
) -> list[Any]:
    async def run() -> list[Any]:
        pages = TaskPages(view, address.conninfo)
        await pages.open()
        try:
            found = []
            for query in queries:
                # The second time, from the statement and parameters built the first time.
                first, again = await pages.page(query), await pages.page(query)
                assert again == first
                found.append((first.data_json, first.next_cursor, first.position))
            return found
        finally:
            await pages.close()

    return asyncio.run(run())


def test_every_sort_filter_and_page_matches_the_view_byte_for_byte(
    listed: tuple[DatabaseAddress, TaskListView, UUID],
) -> None:
    address, view, owner = listed
    soon = datetime.now(UTC) + timedelta(days=2)
    queries = [
        TaskListQuery(owner_id=owner, sort=f"{sign}{field}", limit=limit)
        for field in SORTS
        for sign in ("", "-")
        for limit in (1, 5, 50)
    ]
    queries += [
        TaskListQuery(owner_id=owner, completed=True),
        TaskListQuery(owner_id=owner, completed=False, priority="high"),
        TaskListQuery(owner_id=owner, hidden=None, archived=None),
        TaskListQuery(owner_id=owner, search='QUOTED" \\'),
        TaskListQuery(owner_id=owner, search="%"),
        TaskListQuery(owner_id=owner, due_before=soon + timedelta(hours=1)),
        TaskListQuery(owner_id=owner, due_after=soon, sort="due_date"),
        TaskListQuery(owner_id=owner, template_id=uuid4()),  # an empty page
        TaskListQuery(owner_id=uuid4()),  # another owner: an empty page
    ]
    # Every page after the first, through the cursors the view hands out.
    for query in list(queries[:24]):
        cursor = expected(view, query)[1]
        if cursor is not None:
            queries.append(TaskListQuery(owner_id=owner, sort=query.sort, limit=query.limit,
                                         cursor=cursor))  # fmt: skip

    found = answers(address, view, queries)

    assert found == [expected(view, query) for query in queries]
    assert any(cursor is None for _, cursor, _ in found)
    assert any(data == b"[]" for data, _, _ in found)
    assert all(position > 0 for _, _, position in found)


def test_a_cursor_it_did_not_hand_out_is_refused(
    listed: tuple[DatabaseAddress, TaskListView, UUID],
) -> None:
    address, view, owner = listed
    cursor = expected(view, TaskListQuery(owner_id=owner, sort="priority", limit=2))[1]
    assert cursor is not None
    with pytest.raises(InvalidCursorError):
        answers(address, view, [TaskListQuery(owner_id=owner, sort="due_date", cursor=cursor)])
