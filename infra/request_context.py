"""The request a piece of work belongs to, for code far from the HTTP layer (the event store).

Set by the request-id middleware for the duration of a request; the contextvar travels into
the threadpool that runs sync route handlers, so the event-store recorder can stamp the events
a request appends with its id, which the activity log shows auditors.
"""

from __future__ import annotations

from contextvars import ContextVar

current_request_id: ContextVar[str | None] = ContextVar("perpetua_request_id", default=None)
