"""Deterministic ids for per-user singletons and externally keyed aggregates."""

from __future__ import annotations

from uuid import UUID, uuid5

# Never change: every deterministic id in the store was derived from it.
PERPETUA_NAMESPACE = UUID("5b0c9a52-7f6e-4d8a-9d3e-2f1a6c4b8e01")


def singleton_id(kind: str, user_id: UUID) -> UUID:
    """The id of the one `kind` aggregate a user has, e.g. `credit-ledger`."""
    return uuid5(PERPETUA_NAMESPACE, f"{kind}:{user_id}")
