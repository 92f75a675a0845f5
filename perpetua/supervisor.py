"""The process supervisor behind `perpetua up`: start the children, watch them, stop them.

Children run in their own sessions, so a Ctrl-C in the terminal reaches only the
supervisor, which then stops them (SIGTERM, then SIGKILL after a timeout) and waits for
every one of them before the caller releases the database.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

from perpetua.serve import GRACEFUL_SHUTDOWN_SECONDS, STOP_SIGNALS

# Longer than the children's own graceful shutdown, so SIGKILL is the exception.
STOP_TIMEOUT_SECONDS = GRACEFUL_SHUTDOWN_SECONDS + 5.0
STARTUP_TIMEOUT_SECONDS = 90.0
_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class ChildSpec:
    """One child process of `perpetua up`."""

    name: str
    argv: Sequence[str]
    # Answers 200 once the child has finished starting; the next child starts only then.
    started_url: str | None = None
    # Answers 200 once the child can serve; `up` reports "ready" when all of them do.
    ready_url: str | None = None


def perpetua_command(*args: str) -> list[str]:
    """`python -m perpetua ARGS` with this interpreter, so children use the same venv."""
    return [sys.executable, "-m", "perpetua", *args]


class ChildFailedError(RuntimeError):
    """A child exited while it should have been running (or never came up)."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: the child gets SIGTERM if the supervisor dies without stopping it.

    Then even `kill -9` of `perpetua up` leaves no orphan APIs holding the database.
    """
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Supervisor:
    """Runs `specs` until a stop signal or until one of them dies."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        env: Mapping[str, str],
        on_event: Callable[[str], None],
        logs_to_stderr: bool = False,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        self._specs = list(specs)
        self._env = dict(env)
        self._say = on_event
        self._logs_to_stderr = logs_to_stderr
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._stop = threading.Event()
        self._force = False
        self._children: list[tuple[ChildSpec, subprocess.Popen[bytes]]] = []

    # -- public ------------------------------------------------------------------------

    def run(self, on_ready: Callable[[bool], None]) -> int:
        """Start, watch and stop the children; the exit code for `perpetua up`.

        `on_ready(all_ready)` is called once every child has started, with whether all of
        them also reported ready within the startup timeout.
        """
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            try:
                self._start_all()
                if self._stop.is_set():
                    return 0
                all_ready = self._wait_ready()
                if self._stop.is_set():
                    return 0
                on_ready(all_ready)
                self._watch()
            except ChildFailedError as error:
                self._say(f"[red]{error}[/red]; stopping the others")
                return 1
            return 0
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- signals -----------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop.is_set():
            # A second Ctrl-C: do not wait for graceful shutdown any longer.
            self._force = True
        self._stop.set()

    # -- start -------------------------------------------------------------------------

    def _spawn(self, spec: ChildSpec) -> None:
        process = subprocess.Popen(  # noqa: S603 - argv is ours, no shell
            list(spec.argv),
            env=self._env,
            # The children log to stdout; keep it for the supervisor's own output if asked.
            stdout=sys.stderr if self._logs_to_stderr else None,
            # Own session: a Ctrl-C in the terminal reaches the supervisor only, which
            # then stops every child itself and only afterwards releases the database.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._children.append((spec, process))
        self._say(f"started {spec.name} (pid {process.pid})")

    def _start_all(self) -> None:
        # One after the other: each child creates its tables on start, and concurrent
        # CREATE ... IF NOT EXISTS in PostgreSQL can still collide.
        for spec in self._specs:
            if self._stop.is_set():
                return
            self._spawn(spec)
            if spec.started_url is not None and not self._wait_for(spec.started_url):
                if self._stop.is_set():
                    return
                msg = f"{spec.name} did not start within {self._startup_timeout:.0f} s"
                raise ChildFailedError(msg)

    def _wait_ready(self) -> bool:
        return all(
            self._wait_for(spec.ready_url) for spec in self._specs if spec.ready_url is not None
        )

    def _wait_for(self, url: str) -> bool:
        """Poll `url` until it answers 200; False on timeout or stop. Raises if a child dies."""
        import httpx  # here: the CLI's other commands do without it

        deadline = time.monotonic() + self._startup_timeout
        with httpx.Client(timeout=2.0) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self._check_children()
                try:
                    if client.get(url).status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass  # not listening yet
                self._stop.wait(_POLL_SECONDS)
        return False

    # -- watch -------------------------------------------------------------------------

    def _check_children(self) -> None:
        for spec, process in self._children:
            code = process.poll()
            if code is not None:
                msg = f"{spec.name} (pid {process.pid}) exited unexpectedly with code {code}"
                raise ChildFailedError(msg)

    def _watch(self) -> None:
        while not self._stop.wait(_POLL_SECONDS):
            self._check_children()

    # -- stop --------------------------------------------------------------------------

    def _stop_all(self) -> None:
        running = [(spec, p) for spec, p in self._children if p.poll() is None]
        if running:
            self._say("stopping " + ", ".join(spec.name for spec, _ in running))
        for _, process in running:
            _send(process, signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        for spec, process in running:
            while process.poll() is None and time.monotonic() < deadline and not self._force:
                time.sleep(0.05)
            if process.poll() is None:
                self._say(f"[yellow]{spec.name} did not stop in time; killing it[/yellow]")
                _send(process, signal.SIGKILL)
            process.wait()


def _send(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may exit between poll() and now
        process.send_signal(sig)
