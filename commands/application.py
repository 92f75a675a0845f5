"""The write model: one eventsourcing Application, one global sequence of events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import EnvType

from aggregates.active_tasks import ActiveTasks
from aggregates.auth_session import AuthSession, InvalidRefreshTokenError, RefreshTokenReusedError
from aggregates.errors import ConcurrentModificationError, DomainError
from aggregates.task import Task
from aggregates.task_rules import TaskNotFoundError, TaskRules, VersionConflictError
from aggregates.user import User, UserNotFoundError
from commands.limits import Limits
from commands.messages import (
    Actor,
    AddSubtask,
    ArchiveTask,
    CompleteSubtask,
    CompleteTask,
    CreateTask,
    DeleteTask,
    HideTask,
    Logout,
    RefreshSession,
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
    UpdateProfile,
    UpdateTask,
)
from commands.refresh_tokens import format_token, new_secret, parse_refresh_token
from infra.database import EVENT_STORE_NAME, EVENTS_SCHEMA
from infra.metrics import EVENTS_APPENDED

# Optimistic-concurrency retries for commands that span aggregates (e.g. the task limit).
MAX_ATTEMPTS = 10

TAggregate = TypeVar("TAggregate", bound=Aggregate)
TResult = TypeVar("TResult")


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class SignedIn:
    """A signed-in user, their new refresh token (shown once), and the store position."""

    user: User
    refresh_token: str
    position: int


@dataclass(frozen=True)
class Saved(Generic[TAggregate]):
    """An aggregate as the command left it, and the store position of its last new event."""

    aggregate: TAggregate
    position: int


class PerpetuaApplication(Application[UUID]):
    name = EVENT_STORE_NAME
    env: ClassVar[dict[str, str]] = {"POSTGRES_SCHEMA": EVENTS_SCHEMA}
    # A per-user counter lives as long as its user: snapshots keep loading it cheap.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {
        ActiveTasks: 100
    }

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        limits: Limits | None = None,
        clock: Callable[[], datetime] = utc_now,
        refresh_token_ttl: timedelta = timedelta(days=30),
    ) -> None:
        super().__init__(env)
        self.limits = limits or Limits()
        self.clock = clock
        self.refresh_token_ttl = refresh_token_ttl

    def notify(self, new_events: Sequence[DomainEventProtocol[UUID]]) -> None:
        for domain_event in new_events:
            EVENTS_APPENDED.labels(event_type=type(domain_event).__qualname__).inc()

    # -- identity ---------------------------------------------------------------------------

    def sign_in(self, command: SignIn) -> SignedIn:
        """Register the user on first sign-in; every sign-in is an event and a new session."""

        def attempt() -> SignedIn:
            user_id = User.create_id(command.provider, command.subject)
            try:
                user: User = self.repository.get(user_id)
            except AggregateNotFoundError:
                user = User(
                    provider=command.provider,
                    subject=command.subject,
                    email=command.email,
                    name=command.name,
                )
            user.sign_in(email=command.email)
            secret, secret_hash = new_secret()
            session = AuthSession(
                user_id=user.id,
                provider=command.provider,
                token_hash=secret_hash,
                expires_at=self.clock() + self.refresh_token_ttl,
            )
            position = self._save(user, session)
            return SignedIn(user, format_token(session.id, secret), position)

        # Two first sign-ins of one user race to register them: the loser signs in again.
        return self._retry_on_conflict(attempt)

    def refresh_session(self, command: RefreshSession) -> SignedIn:
        """Rotate a refresh token; a used one revokes its whole family."""

        def attempt() -> SignedIn:
            session, presented = self._session_of(command.refresh_token)
            if session.is_reuse(presented):
                session.revoke("refresh_token_reused")
                self._save(session)
                raise RefreshTokenReusedError("this refresh token was already used; sign in again")
            secret, secret_hash = new_secret()
            now = self.clock()
            session.rotate(
                presented, new_hash=secret_hash, expires_at=now + self.refresh_token_ttl, now=now
            )
            position = self._save(session)
            return SignedIn(
                self.get_user(session.user_id), format_token(session.id, secret), position
            )

        return self._retry_on_conflict(attempt)

    def logout(self, command: Logout) -> int:
        """Revoke the refresh token's family; returns the position (the head if already done)."""
        session, presented = self._session_of(command.refresh_token)
        if presented != session.token_hash and not session.is_reuse(presented):
            raise InvalidRefreshTokenError("the refresh token is not valid")
        if session.revoked:
            return self._head_position()
        session.revoke("logout")
        return self._save(session)

    def update_profile(self, command: UpdateProfile) -> Saved[User]:
        def attempt() -> Saved[User]:
            user = self.get_user(command.actor.user_id)
            if not user.update_profile(command.changes):
                return Saved(user, self._head_position())
            return Saved(user, self._save(user))

        # A concurrent sign-in also appends to the user: re-apply the change on top of it.
        return self._retry_on_conflict(attempt)

    def get_user(self, user_id: UUID) -> User:
        user = self._get_owned(
            user_id, User, owner_id=None, not_found=UserNotFoundError("user not found")
        )
        assert isinstance(user, User)
        return user

    # -- tasks ------------------------------------------------------------------------------

    def create_task(self, command: CreateTask) -> Saved[Task]:
        def attempt() -> Saved[Task]:
            task = Task.create(
                owner_id=command.actor.user_id,
                rules=self._task_rules(command.actor),
                title=command.title,
                description=command.description,
                priority=command.priority,
                due_date=command.due_date,
                estimated_duration=command.estimated_duration,
            )
            active = self._active_tasks(command.actor.user_id)
            active.activate(task.id, limit=self._active_limit(command.actor))
            return Saved(task, self._save(task, active))

        return self._retry_on_conflict(attempt)

    def update_task(self, command: UpdateTask) -> Saved[Task]:
        # No retry: the client named the version it edited, so a conflict is theirs to see.
        task = self._get_task(command.actor, command.task_id)
        changed = task.update(
            command.changes,
            expected_version=command.version,
            rules=self._task_rules(command.actor),
        )
        if not changed:
            return Saved(task, self._head_position())
        try:
            return Saved(task, self._save(task))
        except IntegrityError:
            # Someone saved this version between our read and our write.
            current = self._get_task(command.actor, command.task_id).version
            raise VersionConflictError(
                "the task has changed since you read it", current_version=current
            ) from None

    def complete_task(self, command: CompleteTask) -> Saved[Task]:
        return self._change_task(
            command, lambda task: task.complete(at=self.clock(), force=command.force)
        )

    def reopen_task(self, command: ReopenTask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.reopen())

    def hide_task(self, command: HideTask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.hide())

    def unhide_task(self, command: UnhideTask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.unhide())

    def archive_task(self, command: ArchiveTask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.archive())

    def unarchive_task(self, command: UnarchiveTask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.unarchive())

    def delete_task(self, command: DeleteTask) -> Saved[Task]:
        window = self.limits.tombstone_window
        return self._change_task(
            command, lambda task: task.delete(at=self.clock(), recoverable_for=window)
        )

    def restore_task(self, command: RestoreTask) -> Saved[Task]:
        """Bring a deleted task back, same id, same history; it counts as active again."""
        return self._change_task(
            command, lambda task: task.restore(now=self.clock()), deleted_ok=True
        )

    # -- subtasks ---------------------------------------------------------------------------

    def add_subtask(self, command: AddSubtask) -> tuple[Saved[Task], UUID]:
        added: list[UUID] = []
        rules = self._task_rules(command.actor)

        def add(task: Task) -> None:
            added.append(task.add_subtask(command.title, rules=rules))

        saved = self._change_task(command, add)
        return saved, added[-1]

    def rename_subtask(self, command: RenameSubtask) -> Saved[Task]:
        rules = self._task_rules(command.actor)
        return self._change_task(
            command,
            lambda task: task.rename_subtask(command.subtask_id, command.title, rules=rules),
        )

    def complete_subtask(self, command: CompleteSubtask) -> Saved[Task]:
        return self._change_task(
            command, lambda task: task.complete_subtask(command.subtask_id, at=self.clock())
        )

    def reopen_subtask(self, command: ReopenSubtask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.reopen_subtask(command.subtask_id))

    def remove_subtask(self, command: RemoveSubtask) -> Saved[Task]:
        return self._change_task(command, lambda task: task.remove_subtask(command.subtask_id))

    def reorder_subtasks(self, command: ReorderSubtasks) -> Saved[Task]:
        return self._change_task(
            command, lambda task: task.reorder_subtasks(list(command.subtask_ids))
        )

    # -- helpers ----------------------------------------------------------------------------

    def _save(self, *aggregates: Aggregate) -> int:
        recordings: list[Recording[UUID]] = self.save(*aggregates)
        return recordings[-1].notification.id

    def _retry_on_conflict(self, attempt: Callable[[], TResult]) -> TResult:
        for number in range(1, MAX_ATTEMPTS + 1):
            try:
                return attempt()
            except IntegrityError:
                # Another command saved one of these aggregates first: reload and decide again.
                if number == MAX_ATTEMPTS:
                    raise ConcurrentModificationError(
                        "too many concurrent changes; please retry"
                    ) from None
        raise AssertionError("unreachable")

    def _change_task(
        self,
        command: TaskCommand,
        change: Callable[[Task], bool | None],
        *,
        deleted_ok: bool = False,
    ) -> Saved[Task]:
        """Load, change (False: nothing to do), save with the active-task count if it moved."""

        def attempt() -> Saved[Task]:
            task = self._get_task(command.actor, command.task_id, deleted_ok=deleted_ok)
            was_active = task.is_active
            if change(task) is False:
                return Saved(task, self._head_position())
            if task.is_active == was_active:
                return Saved(task, self._save(task))
            active = self._active_tasks(command.actor.user_id)
            if task.is_active:
                active.activate(task.id, limit=self._active_limit(command.actor))
            else:
                active.deactivate(task.id)
            return Saved(task, self._save(task, active))

        return self._retry_on_conflict(attempt)

    def _get_task(self, actor: Actor, task_id: UUID, *, deleted_ok: bool = False) -> Task:
        not_found = TaskNotFoundError("task not found")
        task = self._get_owned(task_id, Task, owner_id=actor.user_id, not_found=not_found)
        assert isinstance(task, Task)
        if task.deleted and not deleted_ok:
            raise not_found
        return task

    def _get_owned(
        self,
        aggregate_id: UUID,
        kind: type[Aggregate],
        *,
        owner_id: UUID | None,
        not_found: DomainError,
    ) -> Aggregate:
        """Load an aggregate; someone else's, or one of another kind, is simply not found."""
        aggregate: Aggregate | None
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, kind) or (
            owner_id is not None and getattr(aggregate, "owner_id", None) != owner_id
        ):
            raise not_found from None
        return aggregate

    def _session_of(self, refresh_token: str) -> tuple[AuthSession, str]:
        session_id, presented = parse_refresh_token(refresh_token)
        session = self._get_owned(
            session_id,
            AuthSession,
            owner_id=None,
            not_found=InvalidRefreshTokenError("the refresh token is not valid"),
        )
        assert isinstance(session, AuthSession)
        return session, presented

    def _active_tasks(self, user_id: UUID) -> ActiveTasks:
        try:
            active: ActiveTasks = self.repository.get(ActiveTasks.create_id(user_id))
        except AggregateNotFoundError:
            active = ActiveTasks(user_id=user_id)
        return active

    def _active_limit(self, actor: Actor) -> int | None:
        return self.limits.for_tier(actor.tier).active_tasks

    def _task_rules(self, actor: Actor) -> TaskRules:
        tier = self.limits.for_tier(actor.tier)
        return TaskRules(
            now=self.clock(),
            description_max_length=tier.description_length,
            due_date_horizon=self.limits.due_date_horizon,
            subtasks_per_task=tier.subtasks_per_task,
        )

    def _head_position(self) -> int:
        """Position of the store's newest event: a no-op command still answers with one."""
        return self.recorder.max_notification_id() or 0
