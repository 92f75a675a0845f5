"""Properties of tasks: whatever commands arrive, in whatever order, every task stays consistent.

A state machine sends random sequences of task and subtask commands, as two users, through the
application on the in-memory store, with a clock moved by hand (tombstones expire). A command a
rule refuses (a limit, an archived task, someone else's task, a stale version ...) is an
allowed outcome, and must record nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from aggregates.active_tasks import ActiveTasks
from aggregates.errors import DomainError
from aggregates.task import Task
from aggregates.task_rules import TaskNotFoundError
from commands.application import PerpetuaApplication
from commands.limits import Limits, TierLimits
from commands.messages import (
    Actor,
    AddSubtask,
    ArchiveTask,
    CompleteSubtask,
    CompleteTask,
    CreateTask,
    DeleteTask,
    HideTask,
    RemoveSubtask,
    RenameSubtask,
    ReopenSubtask,
    ReopenTask,
    ReorderSubtasks,
    RestoreTask,
    SignIn,
    TaskCommand,
    UnarchiveTask,
    UnhideTask,
    UpdateTask,
)
from tests.fakes.clock import Clock

# Small limits, so that sequences run into them.
LIMITS = Limits(
    tiers={
        "free": TierLimits(active_tasks=3, description_length=20, subtasks_per_task=3),
        "pro": TierLimits(active_tasks=None, description_length=40, subtasks_per_task=5),
    }
)
TASK_COMMANDS: dict[str, type[TaskCommand]] = {
    "reopen": ReopenTask,
    "hide": HideTask,
    "unhide": UnhideTask,
    "archive": ArchiveTask,
    "unarchive": UnarchiveTask,
    "delete": DeleteTask,
    "restore": RestoreTask,
}
SUBTASK_COMMANDS = ("complete", "reopen", "remove", "rename")
# Mostly valid, sometimes not: a refused command is part of any sequence.
TITLES = st.sampled_from(["plan", "pack", "go", "read", "call", "sort", "", "x" * 201])
DESCRIPTIONS = st.sampled_from([None, None, "short", "d" * 30])
PICK = st.integers(min_value=0, max_value=1_000)


class TaskCommandSequences(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.app = PerpetuaApplication(
            env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, limits=LIMITS, clock=self.clock
        )
        self.users = [
            Actor(self.app.sign_in(SignIn("dev", name, f"{name}@example.com", name)).user.id)
            for name in ("alice", "bob")
        ]
        # Every task ever created, with its owner: deleted ones stay (they can be restored).
        self.tasks: list[tuple[Actor, UUID]] = []

    # -- helpers ---------------------------------------------------------------------------

    def attempt(self, command: Callable[[], object]) -> bool:
        """Run a command; a refusal is fine, as long as it recorded nothing."""
        head = self.app.recorder.max_notification_id()
        try:
            command()
        except DomainError as error:
            # Shown by `pytest --hypothesis-show-statistics`: which refusals the runs reach.
            event(f"refused: {type(error).__name__}")
            assert self.app.recorder.max_notification_id() == head
            return False
        return True

    def task(self, task_id: UUID) -> Task:
        task: Task = self.app.repository.get(task_id)
        return task

    def pick(self, number: int) -> tuple[Actor, Task]:
        owner, task_id = self.tasks[number % len(self.tasks)]
        return owner, self.task(task_id)

    # -- rules -----------------------------------------------------------------------------

    @initialize(user=st.sampled_from([0, 1]))
    def first_create(self, user: int) -> None:
        self.create(user, "first", None)

    @rule(user=st.sampled_from([0, 1]), title=TITLES, description=DESCRIPTIONS)
    def create(self, user: int, title: str, description: str | None) -> None:
        actor = self.users[user]
        created: list[Task] = []
        if self.attempt(
            lambda: created.append(
                self.app.create_task(CreateTask(actor, title, description)).aggregate
            )
        ):
            self.tasks.append((actor, created[0].id))

    @precondition(lambda self: self.tasks)
    @rule(number=PICK, title=TITLES, stale=st.booleans())
    def update(self, number: int, title: str, stale: bool) -> None:
        owner, task = self.pick(number)
        version = task.version - 1 if stale else task.version
        self.attempt(
            lambda: self.app.update_task(UpdateTask(owner, task.id, version, {"title": title}))
        )

    @precondition(lambda self: self.tasks)
    @rule(number=PICK)
    def complete_every_subtask(self, number: int) -> None:
        """One by one, as a user ticking them off: the last one completes the task."""
        owner, task = self.pick(number)
        for subtask_id in task.open_subtasks:
            self.change_subtask_by_id(owner, task.id, subtask_id, "complete", "")
        if task.open_subtasks:
            event("completed every subtask")

    @precondition(lambda self: self.tasks)
    @rule(number=PICK, force=st.booleans())
    def complete(self, number: int, force: bool) -> None:
        owner, task = self.pick(number)
        self.attempt(lambda: self.app.complete_task(CompleteTask(owner, task.id, force=force)))

    @precondition(lambda self: self.tasks)
    @rule(number=PICK, name=st.sampled_from(sorted(TASK_COMMANDS)))
    def change(self, number: int, name: str) -> None:
        owner, task = self.pick(number)
        command = TASK_COMMANDS[name](owner, task.id)
        handler: Callable[[TaskCommand], object] = getattr(self.app, f"{name}_task")
        self.attempt(lambda: handler(command))

    @precondition(lambda self: self.tasks)
    @rule(number=PICK, title=TITLES)
    def add_subtask(self, number: int, title: str) -> None:
        owner, task = self.pick(number)
        self.attempt(lambda: self.app.add_subtask(AddSubtask(owner, task.id, title)))

    @precondition(lambda self: self.tasks)
    @rule(number=PICK, which=PICK, name=st.sampled_from(SUBTASK_COMMANDS), title=TITLES)
    def change_subtask(self, number: int, which: int, name: str, title: str) -> None:
        owner, task = self.pick(number)
        if task.subtask_order:
            subtask_id = task.subtask_order[which % len(task.subtask_order)]
            self.change_subtask_by_id(owner, task.id, subtask_id, name, title)

    def change_subtask_by_id(
        self, owner: Actor, task_id: UUID, subtask_id: UUID, name: str, title: str
    ) -> None:
        was_open = not self.task(task_id).subtasks[subtask_id].completed
        commands: dict[str, Callable[[], object]] = {
            "complete": lambda: self.app.complete_subtask(
                CompleteSubtask(owner, task_id, subtask_id)
            ),
            "reopen": lambda: self.app.reopen_subtask(ReopenSubtask(owner, task_id, subtask_id)),
            "remove": lambda: self.app.remove_subtask(RemoveSubtask(owner, task_id, subtask_id)),
            "rename": lambda: self.app.rename_subtask(
                RenameSubtask(owner, task_id, subtask_id, title)
            ),
        }
        if self.attempt(commands[name]) and name == "complete" and was_open:
            after = self.task(task_id)
            if not after.open_subtasks:
                # Completing the last open subtask completes the task, by itself.
                assert after.completed
                assert after.completed_by == "auto"
                event("auto-completed")

    @precondition(lambda self: self.tasks)
    @rule(number=PICK, data=st.data())
    def reorder_subtasks(self, number: int, data: st.DataObject) -> None:
        owner, task = self.pick(number)
        order = data.draw(st.permutations(task.subtask_order))
        self.attempt(lambda: self.app.reorder_subtasks(ReorderSubtasks(owner, task.id, order)))

    @precondition(lambda self: self.tasks)
    @rule(number=PICK)
    def someone_else_cannot_touch_it(self, number: int) -> None:
        owner, task = self.pick(number)
        stranger = next(user for user in self.users if user != owner)
        head = self.app.recorder.max_notification_id()
        for command in (
            lambda: self.app.complete_task(CompleteTask(stranger, task.id, force=True)),
            lambda: self.app.delete_task(DeleteTask(stranger, task.id)),
            lambda: self.app.add_subtask(AddSubtask(stranger, task.id, "mine now")),
        ):
            try:
                command()
            except TaskNotFoundError:
                pass
            else:
                raise AssertionError("a stranger changed someone else's task")
        assert self.app.recorder.max_notification_id() == head

    @rule(days=st.integers(min_value=1, max_value=8))
    def time_passes(self, days: int) -> None:
        self.clock.now += timedelta(days=days)

    @precondition(lambda self: self.tasks)
    @rule(number=PICK, days=st.integers(min_value=0, max_value=10))
    def delete_and_restore_later(self, number: int, days: int) -> None:
        """Within the window the task comes back (if the limit allows); after it, never."""
        owner, task = self.pick(number)
        self.attempt(lambda: self.app.delete_task(DeleteTask(owner, task.id)))
        self.clock.now += timedelta(days=days)
        self.attempt(lambda: self.app.restore_task(RestoreTask(owner, task.id)))

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def every_task_is_consistent(self) -> None:
        for _, task_id in self.tasks:
            task = self.task(task_id)
            assert task.completed == (task.completed_at is not None)
            assert task.completed == (task.completed_by is not None)
            # A completed task never has an open subtask.
            assert not (task.completed and task.open_subtasks)
            assert task.version == len(list(self.app.events.get(task_id)))

    @invariant()
    def the_active_count_is_the_number_of_active_tasks(self) -> None:
        for user in self.users:
            active = sum(
                self.task(task_id).is_active for owner, task_id in self.tasks if owner == user
            )
            try:
                counted: ActiveTasks = self.app.repository.get(ActiveTasks.create_id(user.user_id))
            except AggregateNotFoundError:
                assert active == 0
                continue
            assert counted.count == active
            # Perks only ever raise the limit: it holds for what was activated under a lower one.
            limit = self.app._effective_limits(user.user_id).active_tasks
            assert limit is None or active <= limit


TestAnySequenceOfTaskCommandsKeepsEveryTaskConsistent = TaskCommandSequences.TestCase
TestAnySequenceOfTaskCommandsKeepsEveryTaskConsistent.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
