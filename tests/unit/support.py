"""Small factories the unit tests share."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from commands.application import PerpetuaApplication
from commands.messages import ApplyBillingEvent


def subscribe(app: PerpetuaApplication, user_id: UUID, *, until: datetime) -> None:
    """Make the user pro until `until`, the way billing does: a subscription event."""
    app.apply_billing_event(
        ApplyBillingEvent(f"evt_{uuid4().hex}", "subscription.activated", user_id, until)
    )
