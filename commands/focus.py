"""Focus sessions: start one on a task, end it, and credit its time to the task."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from aggregates.achievements import Achievements
from aggregates.focus import FocusNotFoundError, FocusSession, FocusTracker
from aggregates.task import Task
from commands.base import Saved
from commands.messages import EndFocus, StartFocus
from commands.tasks import TaskCommands


class FocusCommands(TaskCommands):
    def start_focus(self, command: StartFocus) -> Saved[FocusSession]:
        def attempt() -> Saved[FocusSession]:
            task = self._get_task(command.actor, command.task_id)
            task.check_writable()
            tracker = self._singleton(FocusTracker, command.actor.user_id)
            session = FocusSession(
                user_id=command.actor.user_id,
                task_id=task.id,
                planned_minutes=command.planned_minutes,
                started_at=self.clock(),
            )
            tracker.begin(session.id)
            return Saved(session, self._save(session, tracker))

        return self._retry_on_conflict(attempt, user_id=command.actor.user_id)

    def end_focus(self, command: EndFocus) -> Saved[FocusSession]:
        def attempt() -> Saved[FocusSession]:
            session = self._get_owned(
                command.session_id,
                FocusSession,
                owner_id=None,
                not_found=FocusNotFoundError("focus session not found"),
            )
            assert isinstance(session, FocusSession)
            if session.user_id != command.actor.user_id:
                raise FocusNotFoundError("focus session not found")
            now = self.clock()
            elapsed = session.end(at=now, completed=command.completed)
            tracker = self._singleton(FocusTracker, command.actor.user_id)
            tracker.finish(session.id)
            changed: list[Aggregate] = [session, tracker]
            task: Task = self.repository.get(session.task_id)
            if not task.deleted:  # time spent on a task deleted since is not credited
                task.add_focus_time(elapsed, session_id=session.id)
                changed.append(task)
            if session.counts_as_completion:
                achievements = self._singleton(Achievements, command.actor.user_id)
                unlocked = achievements.count_focus_completion(session.id, at=now)
                changed += [achievements, *self._announce_unlocked(session.user_id, unlocked)]
            return Saved(session, self._save(*changed))

        return self._retry_on_conflict(attempt, user_id=command.actor.user_id)
