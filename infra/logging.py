"""structlog setup: JSON lines (or a console view in dev), with stdlib logging routed through it.

Context (request_id, user_id) lives in structlog's contextvars, bound by the middlewares,
so every line logged while serving a request carries it, whichever library logged it.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog
from structlog.typing import Processor

# Loggers whose own handlers would print a second, unstructured copy of each line.
# uvicorn.access is silenced because our access-log middleware already logs every request.
_ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def configure_logging(level: str = "INFO", fmt: Literal["json", "console"] = "json") -> None:
    """Idempotent: safe to call from every process entry point and from tests."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: list[Processor]
    if fmt == "console":
        renderer = [structlog.dev.ConsoleRenderer()]
    else:
        # Tracebacks as structured data so one exception stays one JSON line.
        renderer = [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: configure_logging may run again (tests, CLI) and must take effect.
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        # Lines from plain stdlib loggers (uvicorn, psycopg, eventsourcing) get the same
        # timestamp/level/context treatment before rendering.
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())

    for name in _ROUTED_LOGGERS:
        routed = logging.getLogger(name)
        routed.handlers = []
        routed.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
