"""The signed-in user's own profile."""

from __future__ import annotations

from fastapi import APIRouter, Response

from commands.messages import UpdateProfile
from infra.envelope import Envelope
from infra.errors import error_responses
from writeapi.deps import ActorDep, ApplicationDep
from writeapi.responses import with_position
from writeapi.schemas import ProfileOut, ProfilePatch

router = APIRouter(prefix="/users", tags=["users"])


@router.patch(
    "/me", response_model=Envelope[ProfileOut], responses=error_responses("VALIDATION_ERROR")
)
def update_me(
    body: ProfilePatch, actor: ActorDep, application: ApplicationDep, response: Response
) -> Envelope[ProfileOut]:
    """Change your name, avatar or timezone (an IANA name such as Europe/Paris)."""
    changes = body.model_dump(exclude_unset=True)
    saved = application.update_profile(UpdateProfile(actor=actor, changes=changes))
    tier = application.tier_of(actor.user_id)
    profile = ProfileOut.model_validate({**saved.aggregate.profile(), "tier": tier})
    return Envelope(data=profile, meta=with_position(response, saved.position))
