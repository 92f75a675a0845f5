"""Running one long-lived process (an API or the projectors) until it is told to stop.

Both paths turn SIGTERM and SIGINT into a graceful stop and then *return*, so the caller's
`finally` (and atexit) run: that is where the process gives up its hold on the embedded
PostgreSQL. A process killed by an unhandled SIGTERM would skip both and leave the server
running for ever.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where they serve: the CLI's other commands do without them
    import uvicorn
    from fastapi import FastAPI

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Uvicorn waits this long for open requests to finish; the supervisor of `perpetua up`
# waits longer than this before it escalates to SIGKILL.
GRACEFUL_SHUTDOWN_SECONDS = 10


@contextmanager
def _stop_signals_handled_by(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """Handle SIGINT and SIGTERM with `handler` inside the block; restore the old handlers."""
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def _signals_swallowed() -> Iterator[None]:
    """Ignore stop signals that arrive after uvicorn has stopped handling them.

    Uvicorn handles SIGINT/SIGTERM itself while it runs, then restores the previous
    handlers and re-raises the signal it got. With the default handlers that re-raise
    would kill the process (SIGTERM) or raise KeyboardInterrupt (SIGINT) after an
    otherwise clean shutdown; these handlers absorb it.
    """

    def absorb(signum: int, frame: FrameType | None) -> None:
        pass  # the shutdown this signal asks for has already happened (or is happening)

    with _stop_signals_handled_by(absorb):
        yield


@contextmanager
def signals_raise_exit() -> Iterator[None]:
    """While starting up, a stop signal unwinds the stack (running `finally`) and exits."""

    def exit_now(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    with _stop_signals_handled_by(exit_now):
        yield


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Let the block finish, then act on a stop signal that arrived meanwhile (SystemExit).

    For steps that must not be cut in half: starting the embedded server registers this
    process as a holder only at its very end, and a server started but not yet held would
    be stopped by nobody.
    """
    received: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    with _stop_signals_handled_by(remember):
        yield
    if received:
        raise SystemExit(128 + received[0])


def serve_http(build: Callable[[], FastAPI], host: str, port: int) -> None:
    """Build the app and serve it until SIGTERM/SIGINT, then finish open requests and return."""
    import uvicorn

    with signals_raise_exit():
        api = build()
        config = uvicorn_config(api, host, port)
        # A failed startup (port taken, lifespan error) makes uvicorn raise SystemExit.
        with _signals_swallowed():
            uvicorn.Server(config).run()


def uvicorn_config(api: FastAPI, host: str, port: int) -> uvicorn.Config:
    """How every app of ours is served (the benchmarks' baseline apps too): one process."""
    import uvicorn

    return uvicorn.Config(
        api,
        host=host,
        port=port,
        lifespan="on",
        # The apps log every request themselves (structured, with request id), and the
        # logging set-up belongs to them, not to uvicorn's defaults.
        log_config=None,
        access_log=False,
        server_header=False,
        # Which proxies' X-Forwarded-For to believe is TRUSTED_PROXIES' decision alone
        # (infra/client_address.py); uvicorn would otherwise trust 127.0.0.1 by default.
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def run_until_signalled(target: Callable[[threading.Event], None]) -> None:
    """Run `target(stop)` in this thread; the first SIGTERM/SIGINT sets `stop`.

    A second signal means "stop now": it raises SystemExit so `finally` blocks still run.
    """
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        stop.set()

    with _stop_signals_handled_by(request_stop):
        target(stop)
