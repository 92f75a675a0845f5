"""Prometheus metrics shared by the apps and the projectors (default registry).

Label values must stay low-cardinality: routes are templates, never raw paths or ids.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
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
EVENT_STORE_HEAD = Gauge(
    "perpetua_event_store_head",
    "Highest position in the event store.",
)


def metrics_response() -> Response:
    """The Prometheus text exposition of the default registry."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
