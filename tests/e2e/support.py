"""Helpers for e2e tests that save aggregates themselves and read the answers over HTTP."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from commands.application import PerpetuaApplication
from tests.e2e.conftest import Service

TAggregate = TypeVar("TAggregate", bound=Aggregate)


def singleton(store: PerpetuaApplication, kind: type[TAggregate], user_id: UUID) -> TAggregate:
    """The user's one aggregate of this kind: the saved one (sign-up may have made it), or new."""
    try:
        found: TAggregate = store.repository.get(kind.create_id(user_id))  # type: ignore[attr-defined]
    except AggregateNotFoundError:
        return kind(user_id=user_id)
    return found


def saved(store: PerpetuaApplication, *aggregates: Aggregate) -> str:
    """Save, in one transaction; the position to read at (X-Min-Position)."""
    recordings = store.save(*aggregates)
    return str(recordings[-1].notification.id)


def read(service: Service, path: str, headers: dict[str, str], position: str, **params: Any) -> Any:
    """A read answered once the projections reached `position`: its whole body."""
    response = service.read.get(
        path, params=params, headers={**headers, "X-Min-Position": position}
    )
    assert response.status_code == 200, response.text
    return response.json()
