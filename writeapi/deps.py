"""The write API's dependencies, defined once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from commands.application import PerpetuaApplication
from commands.messages import Actor
from infra.auth import CurrentPrincipal


def get_application(request: Request) -> PerpetuaApplication:
    application: PerpetuaApplication = request.app.state.application
    return application


def get_actor(principal: CurrentPrincipal) -> Actor:
    return Actor(user_id=principal.user_id, tier=principal.tier)


ApplicationDep = Annotated[PerpetuaApplication, Depends(get_application)]
ActorDep = Annotated[Actor, Depends(get_actor)]
