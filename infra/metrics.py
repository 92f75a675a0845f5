"""Prometheus metrics shared by the apps and the projectors (default registry).

Label values must stay low-cardinality: routes are templates, never raw paths or ids.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "perpetua_http_requests",
    "HTTP requests answered, by route template and status code.",
    ["service", "method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "perpetua_http_request_duration_seconds",
    "Time from receiving the request to sending the last response byte.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_APPENDED = Counter(
    "perpetua_events_appended",
    "Events appended to the event store, by event type.",
    ["event_type"],
)
CREDITS_SPENT = Counter(
    "perpetua_credits_spent",
    "Credits spent, by kind (daily, subscription, purchased, kickstart).",
    ["kind"],
)
AI_PROVIDER_LATENCY = Histogram(
    "perpetua_ai_provider_latency_seconds",
    "How long AI provider calls took, by request kind and outcome.",
    ["kind", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0),
)
AI_PROVIDER_ERRORS = Counter(
    "perpetua_ai_provider_errors",
    "AI provider calls that failed (and were refunded), by request kind and outcome.",
    ["kind", "outcome"],
)
PROJECTION_POSITION = Gauge(
    "perpetua_projection_position",
    "Last event-store position a projection has processed.",
    ["projection"],
)
PROJECTION_LAG_EVENTS = Gauge(
    "perpetua_projection_lag_events",
    "Events in the store a projection has not processed yet.",
    ["projection"],
)
PROJECTION_LAG_SECONDS = Gauge(
    "perpetua_projection_lag_seconds",
    "Age of the oldest event a projection has not processed yet (0 when caught up).",
    ["projection"],
)
PROJECTION_FAILED = Gauge(
    "perpetua_projection_failed",
    "1 while a projection has stopped at an event it cannot apply (until it is skipped).",
    ["projection"],
)
EVENT_STORE_HEAD = Gauge(
    "perpetua_event_store_head",
    "Highest position in the event store.",
)

# The scheduler's (counted where the events are saved, i.e. in the scheduler process).
REMINDERS_FIRED = Counter(
    "perpetua_reminders_fired",
    "Reminders fired, by whether they were late (more than 60 s after their time).",
    ["late"],
)
REMINDER_DELAY = Histogram(
    "perpetua_reminder_delay_seconds",
    "Time from a reminder's time to its firing.",
    buckets=(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0),
)
TEMPLATE_INSTANCES_CREATED = Counter(
    "perpetua_template_instances_created",
    "Tasks created from recurring templates.",
)
TEMPLATE_OCCURRENCES_SKIPPED = Counter(
    "perpetua_template_occurrences_skipped",
    "Template occurrences that got no task, by the rule that refused it.",
    ["reason"],
)
SCHEDULER_LAG = Gauge(
    "perpetua_scheduler_lag_seconds",
    "How long the oldest due reminder or occurrence had waited when the last tick began"
    " (0 when nothing was due).",
)
SCHEDULER_LAST_TICK = Gauge(
    "perpetua_scheduler_last_tick_timestamp_seconds",
    "When the scheduler last finished a tick (Unix time): a stuck loop stops moving it.",
)


def metrics_response() -> Response:
    """The Prometheus text exposition of the default registry."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def serve_metrics(host: str, port: int) -> Callable[[], None]:
    """Serve /metrics from a thread (for processes without an HTTP app); returns its stop."""
    server, thread = start_http_server(port, addr=host)

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)

    return stop
