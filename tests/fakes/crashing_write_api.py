"""A write API that dies (SIGKILL) right after a command's events commit: the worst moment.

Run as `python -m tests.fakes.crashing_write_api PORT` with the service's settings in the
environment. Every append made under an Idempotency-Key commits, and then the process is
killed before it can answer or store the answer, as a power cut would.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn
from eventsourcing.persistence import StoredEvent

from infra.command_keys import current_command_key
from infra.event_store import RequestStampingRecorder
from infra.settings import Settings
from perpetua.wiring import build_write_api

_insert_events = RequestStampingRecorder.insert_events


def _insert_then_die(
    self: RequestStampingRecorder, stored_events: Sequence[StoredEvent], **kwargs: Any
) -> Sequence[int] | None:
    ids = _insert_events(self, stored_events, **kwargs)
    if current_command_key.get() is not None:
        os.kill(os.getpid(), signal.SIGKILL)
    return ids


def main() -> None:
    RequestStampingRecorder.insert_events = _insert_then_die  # type: ignore[method-assign]
    app = build_write_api(Settings())
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")


if __name__ == "__main__":
    main()
