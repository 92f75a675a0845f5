"""Histories the tests share: commands that together record every kind of event a read
model shows (the rebuild-equals-live test, the event decoder's test)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from commands.application import PerpetuaApplication
from commands.messages import (
    Actor,
    AddNote,
    AddReminder,
    AddSubtask,
    ArchiveTask,
    ChangeReminder,
    CompleteSubtask,
    CompleteTask,
    CreateTask,
    CreateTemplate,
    DeleteTask,
    EditNote,
    EndFocus,
    FireReminder,
    HideTask,
    PauseTemplate,
    RemoveNote,
    RemoveReminder,
    RemoveSubtask,
    RenameSubtask,
    ReopenSubtask,
    ReopenTask,
    ReorderSubtasks,
    RestoreTask,
    ResumeTemplate,
    RunTemplate,
    StartFocus,
    UnarchiveTask,
    UnhideTask,
    UpdateTask,
    UpdateTemplate,
)
from tests.fakes.clock import Clock


def write_tasks(app: PerpetuaApplication, clock: Clock, pro: Actor, free: Actor) -> None:
    """Six tasks, the two users' interleaved, through every change a task can go through."""
    for number in range(6):
        actor = pro if number % 2 else free
        due = clock.now + timedelta(days=1)
        task = app.create_task(CreateTask(actor, f"task {number}", "words", due_date=due)).aggregate
        app.update_task(UpdateTask(actor, task.id, 1, {"title": f"renamed {number}"}))
        subtasks = [app.add_subtask(AddSubtask(actor, task.id, f"step {n}"))[1] for n in range(3)]
        app.rename_subtask(RenameSubtask(actor, task.id, subtasks[0], "first step"))
        app.complete_subtask(CompleteSubtask(actor, task.id, subtasks[1]))
        app.reopen_subtask(ReopenSubtask(actor, task.id, subtasks[1]))
        app.reorder_subtasks(ReorderSubtasks(actor, task.id, list(reversed(subtasks))))
        app.remove_subtask(RemoveSubtask(actor, task.id, subtasks[2]))
        note = app.add_note(AddNote(actor, task.id, "a note"))[1]
        app.edit_note(EditNote(actor, task.id, note, "an edited note"))
        if number % 3 == 0:
            app.remove_note(RemoveNote(actor, task.id, note))
        reminder = app.add_reminder(
            AddReminder(actor, task.id, remind_at=clock.now + timedelta(hours=1))
        )[1]
        app.change_reminder(
            ChangeReminder(actor, task.id, reminder, remind_at=clock.now + timedelta(hours=2))
        )
        spare = app.add_reminder(AddReminder(actor, task.id, offset_minutes=30))[1]
        app.remove_reminder(RemoveReminder(actor, task.id, spare))
        focus = app.start_focus(StartFocus(actor, task.id, 25)).aggregate
        clock.now += timedelta(minutes=30)
        app.end_focus(EndFocus(actor, focus.id, completed=True))
        if number % 2:
            app.complete_task(CompleteTask(actor, task.id, force=True))
        if number == 3:
            app.reopen_task(ReopenTask(actor, task.id))
        app.hide_task(HideTask(actor, task.id))
        app.unhide_task(UnhideTask(actor, task.id))
        app.archive_task(ArchiveTask(actor, task.id))
        app.unarchive_task(UnarchiveTask(actor, task.id))
        if number % 2 == 0:
            app.delete_task(DeleteTask(actor, task.id))
        if number == 2:
            app.restore_task(RestoreTask(actor, task.id))
        clock.now += timedelta(hours=3)
        app.fire_reminder(FireReminder(task.id, reminder))


def write_template(app: PerpetuaApplication, clock: Clock, pro: Actor) -> UUID:
    """A template made, changed, run three days running, paused and resumed; returns its id."""
    template = app.create_template(
        CreateTemplate(pro, "Water the plants", "FREQ=DAILY;BYHOUR=9;BYMINUTE=0", subtasks=["a"])
    ).aggregate
    app.update_template(UpdateTemplate(pro, template.id, 1, {"title": "Water them"}))
    for _ in range(3):
        clock.now += timedelta(days=1)
        app.run_template(RunTemplate(template.id))
    app.pause_template(PauseTemplate(pro, template.id))
    app.resume_template(ResumeTemplate(pro, template.id))
    return template.id
