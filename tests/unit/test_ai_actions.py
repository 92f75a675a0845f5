"""The model's suggestions are untrusted: what survives vetting, and what does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from aggregates.task import Task
from aggregates.task_rules import TaskRules
from commands.ai_actions import vet_actions, vet_subtask_titles
from commands.limits import TierLimits
from infra.ai_providers import ProposedAction

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
LIMITS = TierLimits(
    active_tasks=None,
    description_length=1000,
    subtasks_per_task=4,
    notes_per_task=10,
    reminders_per_task=3,
)
RULES = TaskRules(now=NOW, due_date_horizon=timedelta(days=30), limits_of_user=lambda: LIMITS)
OWNER = uuid4()


def task(title: str = "Mine", *, archived: bool = False) -> Task:
    made = Task.create(owner_id=OWNER, rules=RULES, title=title)
    if archived:
        made.archive()
    return made


def lookup(*tasks: Task) -> dict[UUID, Task]:
    return {t.id: t for t in tasks}


def vet(proposed: list[dict[str, object]], *tasks: Task, limit: int = 5) -> list[dict[str, object]]:
    known = lookup(*tasks)
    actions = [ProposedAction.model_validate(p) for p in proposed]
    return vet_actions(actions, task_of=known.get, rules=RULES, limit=limit)


def test_only_known_kinds_about_the_users_own_live_tasks_survive() -> None:
    mine, archived = task(), task("Old", archived=True)
    soon = (NOW + timedelta(days=1)).isoformat()

    kept = vet(
        [
            {"type": "complete_task", "task_id": str(uuid4())},  # not the user's
            {"type": "complete_task", "task_id": "not-an-id"},
            {"type": "complete_task", "task_id": str(archived.id)},
            {"type": "drop_table"},
            {"type": "complete_task", "task_id": str(mine.id)},
            {"type": "reschedule_task", "task_id": str(mine.id), "due_date": soon},
        ],
        mine,
        archived,
    )

    assert kept == [
        {"type": "complete_task", "task_id": str(mine.id)},
        {"type": "reschedule_task", "task_id": str(mine.id), "due_date": soon},
    ]


def test_fields_pass_the_commands_own_rules() -> None:
    mine = task()
    past = (NOW - timedelta(days=1)).isoformat()
    too_far = (NOW + timedelta(days=31)).isoformat()

    kept = vet(
        [
            {"type": "reschedule_task", "task_id": str(mine.id), "due_date": past},
            {"type": "reschedule_task", "task_id": str(mine.id), "due_date": too_far},
            {"type": "reschedule_task", "task_id": str(mine.id), "due_date": "next week"},
            {"type": "create_task", "title": "   "},
            {"type": "create_task", "title": "x" * 201},
            {"type": "create_task", "title": "bad\u0000title"},
            {"type": "create_task", "title": "  Buy stamps  "},
        ],
        mine,
    )

    assert kept == [{"type": "create_task", "title": "Buy stamps", "due_date": None}]


def test_a_flood_of_suggestions_is_cut_to_the_limit() -> None:
    kept = vet([{"type": "create_task", "title": f"t{i}"} for i in range(500)], limit=3)

    assert [a["title"] for a in kept] == ["t0", "t1", "t2"]


def test_subtasks_are_distinct_valid_and_trimmed_to_the_free_slots() -> None:
    titles = ["Pack", " pack ", "", "Label boxes", "x" * 201, "Book van", "Clean", "Extra"]

    kept = vet_subtask_titles(titles, rules=RULES, existing=["Pack"], room=3)

    assert kept == ["Label boxes", "Book van", "Clean"]


def test_suggested_subtasks_fit_the_task() -> None:
    mine = task()
    mine.add_subtask("First", rules=RULES)

    kept = vet(
        [{"type": "create_subtasks", "task_id": str(mine.id), "subtasks": ["a", "b", "c", "d"]}],
        mine,
    )

    assert kept == [
        {"type": "create_subtasks", "task_id": str(mine.id), "subtasks": ["a", "b", "c"]}
    ]
