"""What survives of a model's answer: hostile or confused output never reaches a user's data.

The model's suggestions and subtask titles are untrusted input, like a request body: only
actions of the known kinds, naming the user's own live tasks, with fields that pass the same
rules as the commands, survive — at most a few. Everything else is dropped, silently: the
user asked for help, and a bad suggestion is simply not shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from aggregates.errors import DomainError
from aggregates.task import Task
from aggregates.task_rules import TaskRules
from infra.ai_providers import ProposedAction
from infra.text import forbidden_character

ACTION_TYPES = frozenset({"complete_task", "create_task", "create_subtasks", "reschedule_task"})

# Looks up one of the user's own live tasks; None if the id is not one.
TaskLookup = Callable[[UUID], Task | None]


def vet_subtask_titles(
    titles: Iterable[object], *, rules: TaskRules, existing: Iterable[str], room: int
) -> list[str]:
    """Valid, distinct titles the task does not have yet, at most `room` of them."""
    taken = {title.casefold() for title in existing}
    kept: list[str] = []
    for title in titles:
        if len(kept) >= room:
            break
        if not isinstance(title, str) or forbidden_character(title) is not None:
            continue
        title = title.strip()
        try:
            rules.check_subtask_title(title)
        except DomainError:
            continue
        if title.casefold() in taken:
            continue
        taken.add(title.casefold())
        kept.append(title)
    return kept


def vet_actions(
    proposed: Sequence[ProposedAction],
    *,
    task_of: TaskLookup,
    rules: TaskRules,
    limit: int,
) -> list[dict[str, Any]]:
    """The suggestions worth showing, in the model's order, at most `limit`."""
    kept: list[dict[str, Any]] = []
    for action in proposed[: limit * 4]:  # a flood of suggestions is not read to the end
        if len(kept) >= limit:
            break
        vetted = _vet(action, task_of=task_of, rules=rules)
        if vetted is not None:
            kept.append(vetted)
    return kept


def _vet(action: ProposedAction, *, task_of: TaskLookup, rules: TaskRules) -> dict[str, Any] | None:
    if action.type not in ACTION_TYPES:
        return None
    if action.type == "create_task":
        title = _valid_title(action.title, rules)
        due = _valid_due_date(action.due_date, rules)
        if title is None or due is False:
            return None
        return {"type": "create_task", "title": title, "due_date": due}
    task = _own_task(action.task_id, task_of)
    if task is None:
        return None
    if action.type == "complete_task":
        return None if task.completed else {"type": "complete_task", "task_id": str(task.id)}
    if action.type == "reschedule_task":
        due = _valid_due_date(action.due_date, rules)
        if due is False or due is None:
            return None
        return {"type": "reschedule_task", "task_id": str(task.id), "due_date": due}
    limit = rules.subtasks_per_task
    room = 10 if limit is None else max(limit - len(task.subtasks), 0)
    existing = [subtask.title for subtask in task.subtasks.values()]
    titles = vet_subtask_titles(action.subtasks or [], rules=rules, existing=existing, room=room)
    if not titles:
        return None
    return {"type": "create_subtasks", "task_id": str(task.id), "subtasks": titles}


def _own_task(task_id: str | None, task_of: TaskLookup) -> Task | None:
    try:
        parsed = UUID(str(task_id))
    except ValueError:
        return None
    task = task_of(parsed)
    if task is None or task.deleted or task.archived:
        return None
    return task


def _valid_title(title: str | None, rules: TaskRules) -> str | None:
    if title is None or forbidden_character(title) is not None:
        return None
    title = title.strip()
    try:
        rules.check("title", title)
    except DomainError:
        return None
    return title


def _valid_due_date(value: str | None, rules: TaskRules) -> str | bool | None:
    """The due date as ISO text, None if none was given, False if it is not acceptable."""
    if value is None:
        return None
    try:
        due = datetime.fromisoformat(value)
        rules.check("due_date", due)
    except (ValueError, TypeError, DomainError):
        return False
    if due <= rules.now:
        return False
    return due.isoformat()
