"""Recurring templates: their owner edits them; the scheduler turns occurrences into tasks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from aggregates.active_tasks import ActiveTasks
from aggregates.errors import DomainError
from aggregates.inbox import Inbox
from aggregates.task import Task
from aggregates.task_rules import VersionConflictError
from aggregates.template import (
    InvalidTemplateError,
    RunOutcome,
    TaskTemplate,
    TemplateNotFoundError,
    instance_id,
)
from commands.base import Saved
from commands.messages import (
    Actor,
    CreateTemplate,
    DeleteTemplate,
    PauseTemplate,
    ResumeTemplate,
    RunTemplate,
    TemplateCommand,
    UpdateTemplate,
)
from commands.tasks import TaskCommands
from infra.recurrence import Recurrence, RecurrenceError, normalize_rule, zone_of


class TemplateCommands(TaskCommands):
    def create_template(self, command: CreateTemplate) -> Saved[TaskTemplate]:
        user_id = command.actor.user_id
        timezone = command.timezone or self.get_user(user_id).timezone
        fields: dict[str, Any] = {
            "title": command.title,
            "description": command.description,
            "priority": command.priority,
            "estimated_duration": command.estimated_duration,
            "rrule": normalize_rule(command.rrule),
            "timezone": timezone,
            "starts_at": self._wall_time(command.starts_at, timezone),
            "subtasks": list(command.subtasks),
        }
        template = TaskTemplate.create(
            owner_id=user_id,
            rules=self._rules_of(command.actor),
            fields=fields,
            schedule=self._schedule(fields),
        )
        return Saved(template, self._save(template))

    def update_template(self, command: UpdateTemplate) -> Saved[TaskTemplate]:
        # No retry: the client named the version it edited, so a conflict is theirs to see.
        template = self._get_template(command.actor, command.template_id)
        changes = dict(command.changes)
        if isinstance(changes.get("rrule"), str):
            changes["rrule"] = normalize_rule(changes["rrule"])
        timezone = changes.get("timezone", template.timezone)
        if "starts_at" in changes:
            changes["starts_at"] = self._wall_time(changes["starts_at"], timezone)
        # A new time zone keeps the start's wall time: 09:00 stays 09:00 where the user is now.
        changed = template.update(
            changes,
            expected_version=command.version,
            rules=self._rules_of(command.actor),
            schedule=self._schedule({**template.fields(), **changes}),
        )
        if not changed:
            return Saved(template, self._head_position())
        try:
            return Saved(template, self._save(template))
        except IntegrityError:
            current = self._get_template(command.actor, command.template_id).version
            raise VersionConflictError(
                "the template has changed since you read it", current_version=current
            ) from None

    def pause_template(self, command: PauseTemplate) -> Saved[TaskTemplate]:
        return self._change_template(command, lambda template: template.pause())

    def resume_template(self, command: ResumeTemplate) -> Saved[TaskTemplate]:
        return self._change_template(
            command,
            lambda template: template.resume(
                schedule=self._schedule(template.fields()), now=self.clock()
            ),
        )

    def delete_template(self, command: DeleteTemplate) -> Saved[TaskTemplate]:
        return self._change_template(command, lambda template: template.delete())

    def run_template(self, command: RunTemplate) -> RunOutcome | None:
        """Create the instance of the template's due occurrence; None: nothing is due.

        The instance is created exactly like `create_task` (the same rules, saved with the
        active-task count), with an id derived from the template and the occurrence, in
        the same commit as the template's record of it. A second scheduler doing the same
        collides with it in the store, reloads and finds nothing due. An instance the rules
        refuse (the active-task limit, a description the tier no longer allows) becomes a
        skipped occurrence and a notification, not an error the scheduler retries for ever.
        """

        def attempt() -> RunOutcome | None:
            try:
                template: Aggregate = self.repository.get(command.template_id)
            except AggregateNotFoundError:
                return None
            if not isinstance(template, TaskTemplate):
                return None
            schedule = self._schedule(template.fields())
            due = template.due_occurrence(now=self.clock(), schedule=schedule)
            if due is None:
                return None
            occurrence_at, missed = due
            try:
                task, active = self._instance_of(template, occurrence_at)
            except DomainError as refused:
                template.skip(occurrence_at, refused.code, missed=missed, schedule=schedule)
                inbox = self._singleton(Inbox, template.owner_id)
                inbox.post(
                    kind="template_skipped",
                    key=f"{template.id}:{occurrence_at.isoformat()}",
                    title=f"Not created: {template.title}",
                    body=str(refused),
                )
                self._save(template, inbox)
                return "skipped"
            template.record_instance(occurrence_at, task.id, missed=missed, schedule=schedule)
            self._save(task, active, template)
            return "created"

        # The scheduler names the template, not its user: it races like another process.
        return self._retry_on_conflict(attempt, user_id=None)

    def _instance_of(
        self, template: TaskTemplate, occurrence_at: datetime
    ) -> tuple[Task, ActiveTasks]:
        limits = self._effective_limits(template.owner_id)
        rules = self._task_rules(limits)
        task = Task.create(
            task_id=instance_id(template.id, occurrence_at),
            owner_id=template.owner_id,
            rules=rules,
            title=template.title,
            description=template.description,
            priority=template.priority,
            estimated_duration=template.estimated_duration,
            template_id=template.id,
        )
        for title in template.subtasks:
            task.add_subtask(title, rules=rules)
        active = self._singleton(ActiveTasks, template.owner_id)
        active.activate(task.id, limit=limits.active_tasks)
        return task, active

    def _change_template(
        self, command: TemplateCommand, change: Callable[[TaskTemplate], bool | None]
    ) -> Saved[TaskTemplate]:
        """Load, change (False: nothing to do), save; retried if the scheduler got there
        first (these commands name no version: pausing twice is still pausing)."""

        def attempt() -> Saved[TaskTemplate]:
            template = self._get_template(command.actor, command.template_id)
            if change(template) is False:
                return Saved(template, self._head_position())
            return Saved(template, self._save(template))

        return self._retry_on_conflict(attempt, user_id=command.actor.user_id)

    def _get_template(self, actor: Actor, template_id: UUID) -> TaskTemplate:
        not_found = TemplateNotFoundError("template not found")
        template = self._get_owned(
            template_id, TaskTemplate, owner_id=actor.user_id, not_found=not_found
        )
        assert isinstance(template, TaskTemplate)
        if template.deleted:
            raise not_found
        return template

    def _wall_time(self, starts_at: datetime | None, timezone: str) -> datetime:
        """A start as the wall time in `timezone` (naive); by default now, to the minute."""
        with _as_template_errors():
            zone = zone_of(timezone)
        if starts_at is None:
            starts_at = self.clock().replace(second=0, microsecond=0)
        return starts_at.astimezone(zone).replace(tzinfo=None)

    def _schedule(self, fields: dict[str, Any]) -> Recurrence:
        with _as_template_errors():
            return Recurrence.parse(fields["rrule"], fields["timezone"], fields["starts_at"])


@contextmanager
def _as_template_errors() -> Iterator[None]:
    """The recurrence arithmetic speaks ValueError; the HTTP layer maps domain errors."""
    try:
        yield
    except RecurrenceError as error:
        raise InvalidTemplateError(str(error), field=error.field) from None
