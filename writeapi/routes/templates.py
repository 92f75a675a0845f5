"""Recurring templates: create (201), edit, pause, resume, delete; each answers with it.
The scheduler (projectors/scheduler.py) makes their tasks; nothing here does."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from fastapi import APIRouter, Response, status

from aggregates.template import TaskTemplate
from commands.application import PerpetuaApplication
from commands.base import Saved
from commands.messages import (
    Actor,
    CreateTemplate,
    DeleteTemplate,
    PauseTemplate,
    ResumeTemplate,
    UpdateTemplate,
)
from infra.envelope import Envelope
from infra.errors import error_responses
from writeapi.deps import ActorDep, ApplicationDep
from writeapi.responses import template_answer
from writeapi.schemas import TemplateCreate, TemplateOut, TemplatePatch

router = APIRouter(prefix="/templates", tags=["templates"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[TemplateOut],
    responses=error_responses("VALIDATION_ERROR", "DESCRIPTION_TOO_LONG", "SUBTASK_LIMIT_EXCEEDED"),
)
def create_template(
    body: TemplateCreate, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[TemplateOut]:
    """Create a recurring template; its first task comes at its next occurrence."""
    saved = application.create_template(CreateTemplate(actor=actor, **body.model_dump()))
    return template_answer(saved, response)


@router.patch(
    "/{template_id}",
    response_model=Envelope[TemplateOut],
    responses=error_responses(
        "TEMPLATE_NOT_FOUND",
        "VERSION_CONFLICT",
        "VALIDATION_ERROR",
        "DESCRIPTION_TOO_LONG",
        "SUBTASK_LIMIT_EXCEEDED",
    ),
)
def update_template(
    template_id: UUID,
    body: TemplatePatch,
    actor: ActorDep,
    application: ApplicationDep,
    response: Response,
) -> Envelope[TemplateOut]:
    """Change a template, given the version you last read; a new schedule starts from now."""
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    saved = application.update_template(
        UpdateTemplate(actor, template_id, version=body.version, changes=changes)
    )
    return template_answer(saved, response)


@router.delete(
    "/{template_id}",
    response_model=Envelope[TemplateOut],
    responses=error_responses("TEMPLATE_NOT_FOUND"),
)
def delete_template(
    template_id: UUID, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[TemplateOut]:
    """Delete a template for good; the tasks it made stay."""
    saved = application.delete_template(DeleteTemplate(actor, template_id))
    return template_answer(saved, response)


def _template_action(
    action: str,
    summary: str,
    run: Callable[[PerpetuaApplication, Actor, UUID], Saved[TaskTemplate]],
) -> None:
    """Register `POST /templates/{template_id}/<action>`, answered with the template."""

    def endpoint(
        template_id: UUID, actor: ActorDep, application: ApplicationDep, response: Response
    ) -> Envelope[TemplateOut]:
        return template_answer(run(application, actor, template_id), response)

    router.add_api_route(
        f"/{{template_id}}/{action}",
        endpoint,
        methods=["POST"],
        name=f"{action}_template",
        summary=summary,
        response_model=Envelope[TemplateOut],
        responses=error_responses("TEMPLATE_NOT_FOUND"),
    )


_template_action(
    "pause",
    "Pause a template: no tasks until it is resumed.",
    lambda app, actor, template_id: app.pause_template(PauseTemplate(actor, template_id)),
)
_template_action(
    "resume",
    "Resume a template from its next occurrence (paused ones are not made up).",
    lambda app, actor, template_id: app.resume_template(ResumeTemplate(actor, template_id)),
)
