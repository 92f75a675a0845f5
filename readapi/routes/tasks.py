"""Task queries."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AwareDatetime

from infra.auth import CurrentPrincipal
from infra.database import EVENT_STORE_NAME
from infra.envelope import Envelope
from infra.errors import ApiError, error_responses
from infra.tokens import Principal
from projections.cursors import InvalidCursorError
from projections.task_list import TaskListQuery
from readapi.consistency import ProjectionProgress
from readapi.deps import MIN_POSITION_HEADER, TaskHistoryDep, TaskListDep, consistent_with
from readapi.page_cache import CachedAnswer, PageCache
from readapi.responses import answer_response, json_answer, read_response
from readapi.schemas import HistoryEntryOut, TaskDetailOut, TaskOut, task_out_of
from readapi.task_pages import TaskPages

router = APIRouter(prefix="/tasks", tags=["tasks"])
# The history reads the store, which is never behind: only the projection's reads wait, so a
# stuck task list does not hold the history up.
TASK_LIST = ("task_list",)
WAIT_FOR_TASK_LIST = [consistent_with(*TASK_LIST)]

SortOrder = Literal[
    "created_at", "-created_at", "updated_at", "-updated_at",
    "due_date", "-due_date", "priority", "-priority",
]  # fmt: skip


class RepeatedQueryRoute(APIRoute):
    """The task list's route: a query string FastAPI has validated before goes straight to the
    page, with the values FastAPI made of it then.

    Solving the route's dozen parameters and three dependencies again was most of what a
    cached page cost. Validation is a function of the query string alone, so its result can be
    remembered; only strings that validated and asked for no wait are (a client's position to
    wait for, as a header or as `min_position`, always goes through the full route). The
    principal still comes from the token check of this request.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        solved = super().get_route_handler()

        async def handler(request: Request) -> Response:
            scope = request.scope
            values = _validated.get(scope["query_string"])
            principal = scope.get("state", {}).get("principal")
            if (
                values is None
                or not isinstance(principal, Principal)
                or any(name.lower() == MIN_POSITION for name, _ in scope["headers"])
            ):
                return await solved(request)
            return await _task_page(request, TaskListQuery(owner_id=principal.user_id, **values))

        return handler


MIN_POSITION = MIN_POSITION_HEADER.lower().encode("latin-1")
# Query strings of the task list that validated, with their values (bounded; any client
# sends a handful of different ones).
_validated: dict[bytes, dict[str, Any]] = {}
_VALIDATED_KEPT = 1024


async def list_tasks(
    request: Request,
    principal: CurrentPrincipal,
    completed: bool | None = None,
    hidden: Annotated[bool, Query(description="Hidden tasks leave the default list.")] = False,
    archived: Annotated[bool, Query(description="Archived tasks leave the default list.")] = False,
    priority: Literal["low", "medium", "high"] | None = None,
    due_before: datetime | None = None,
    due_after: datetime | None = None,
    template_id: UUID | None = None,
    search: Annotated[str | None, Query(max_length=200, description="In the title.")] = None,
    sort: Annotated[SortOrder, Query(description="A leading '-' sorts descending.")] = (
        "-created_at"
    ),
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """The user's tasks, filtered and sorted, a page at a time."""
    values: dict[str, Any] = {
        "completed": completed,
        "hidden": hidden,
        "archived": archived,
        "priority": priority,
        "due_before": due_before,
        "due_after": due_after,
        "template_id": template_id,
        "search": search,
        "sort": sort,
        "cursor": cursor,
        "limit": limit,
    }
    if MIN_POSITION_HEADER not in request.headers and "min_position" not in request.query_params:
        if len(_validated) >= _VALIDATED_KEPT:
            _validated.clear()
        _validated[request.scope["query_string"]] = values
    return await _task_page(request, TaskListQuery(owner_id=principal.user_id, **values))


router.add_api_route(
    "",
    list_tasks,
    methods=["GET"],
    dependencies=WAIT_FOR_TASK_LIST,
    response_model=Envelope[list[TaskOut]],
    responses=error_responses("VALIDATION_ERROR", "PROJECTION_LAGGING"),
    route_class_override=RepeatedQueryRoute,
)


async def _task_page(request: Request, query: TaskListQuery) -> Response:
    """The page of `query`: from the cache while it is valid, else read (and kept)."""
    state = request.app.state
    cache: PageCache = state.page_cache
    progress: ProjectionProgress = state.progress
    # The owner is part of the query, so the key never matches another user's page.
    key = ("tasks", query)
    answer = cache.get(key, progress.position_of(TASK_LIST))
    if answer is None:
        answer = await _read_page(state.task_pages, query, cache.clock())
        cache.put(key, answer, progress.position_of(TASK_LIST))
    return answer_response(request, (answer.content, answer.etag), answer.position)


async def _read_page(pages: TaskPages, query: TaskListQuery, read_at: float) -> CachedAnswer:
    try:
        page = await pages.page(query)
    except InvalidCursorError as error:
        raise ApiError(
            "VALIDATION_ERROR", str(error), details={"fields": [{"loc": ["query", "cursor"]}]}
        ) from None
    meta = {"next_cursor": page.next_cursor, "limit": query.limit, "position": page.position}
    content, etag = json_answer(page.data_json, meta)
    return CachedAnswer(content, etag, page.position, read_at)


@router.get(
    "/{task_id}",
    dependencies=WAIT_FOR_TASK_LIST,
    response_model=Envelope[TaskDetailOut],
    responses=error_responses(
        "TASK_NOT_FOUND", "NOT_FOUND", "VALIDATION_ERROR", "PROJECTION_LAGGING"
    ),
)
async def get_task(
    request: Request,
    task_id: UUID,
    principal: CurrentPrincipal,
    view: TaskListDep,
    history: TaskHistoryDep,
    version: Annotated[int | None, Query(ge=1, description="The task at this version.")] = None,
    as_of: Annotated[
        AwareDatetime | None, Query(description="The task as it was at this instant.")
    ] = None,
) -> Response:
    """One task; with `version` or `as_of`, as it was then (replayed from its events)."""
    if version is not None and as_of is not None:
        raise ApiError(
            "VALIDATION_ERROR",
            "give either version or as_of, not both",
            details={"fields": [{"loc": ["query", "version"]}, {"loc": ["query", "as_of"]}]},
        )
    if version is not None or as_of is not None:
        task = await run_in_threadpool(
            history.task_at, principal.user_id, task_id, version=version, as_of=as_of
        )
        payload = Envelope[TaskDetailOut](data=task_out_of(task), meta={"version": task.version})
        return JSONResponse(jsonable_encoder(payload))
    row, position = await run_in_threadpool(
        view.get_task, principal.user_id, task_id, EVENT_STORE_NAME
    )
    if row is None:
        raise ApiError(
            "TASK_NOT_FOUND", "task not found", headers={"X-Projection-Position": str(position)}
        )
    payload = Envelope[TaskDetailOut](
        data=TaskDetailOut.model_validate(row), meta={"position": position}
    )
    return read_response(request, payload, position)


@router.get(
    "/{task_id}/history",
    response_model=Envelope[list[HistoryEntryOut]],
    responses=error_responses("TASK_NOT_FOUND"),
)
async def task_history(
    task_id: UUID, principal: CurrentPrincipal, history: TaskHistoryDep
) -> Response:
    """Every event of the task, oldest first, from the event store."""
    entries = await run_in_threadpool(history.events, principal.user_id, task_id)
    payload = Envelope[list[HistoryEntryOut]](
        data=[HistoryEntryOut.model_validate(entry, from_attributes=True) for entry in entries]
    )
    return JSONResponse(jsonable_encoder(payload))
