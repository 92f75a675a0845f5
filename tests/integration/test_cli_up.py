"""`perpetua up` end to end: embedded PostgreSQL, both APIs, the projectors and the scheduler
as one command, a write read back through the read API, a reminder fired, and a clean stop
that leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 45  # the supervisor escalates to SIGKILL after 15 s per child
REMINDER_TIMEOUT_SECONDS = 30

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningUp:
    process: subprocess.Popen[bytes]
    write_url: str
    read_url: str
    scheduler_metrics_url: str
    pgdata: Path
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _clean_env(
    data_dir: Path, write_port: int, read_port: int, metrics_port: int = 0
) -> dict[str, str]:
    """The environment of a fresh machine: no DATABASE_URL, nothing of ours preset."""
    ours = ("PERPETUA_", "DATABASE_URL", "WRITE_API_", "READ_API_", "JWT_", "LOG_", "SCHEDULER_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(ours)}
    env.update(
        PERPETUA_DATA_DIR=str(data_dir),
        WRITE_API_PORT=str(write_port),
        READ_API_PORT=str(read_port),
        SCHEDULER_METRICS_PORT=str(metrics_port),
        # A reminder a few seconds ahead should not wait for the default 5 s tick.
        SCHEDULER_TICK_SECONDS="0.5",
        # Importable even when the project is not pip-installed into this interpreter.
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    )
    return env


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory outside pytest's tmp root.

    Run as root, embedded PostgreSQL runs as a system user of its own and opens up the
    directories above its data dir for it; any other pytest process resets pytest's tmp
    root to 0700 on start, which would lock the server out of a data dir placed there.
    """
    path = Path(tempfile.mkdtemp(prefix="perpetua-up-test-"))
    yield path / "data"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def perpetua_up(tmp_path: Path, data_dir: Path) -> Iterator[RunningUp]:
    write_port, read_port, metrics_port = _free_port(), _free_port(), _free_port()
    log = tmp_path / "perpetua-up.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "perpetua", "up"],
            # Not the repo: a developer's .env there must not leak into this run.
            cwd=tmp_path,
            env=_clean_env(data_dir, write_port, read_port, metrics_port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    running = RunningUp(
        process,
        f"http://127.0.0.1:{write_port}",
        f"http://127.0.0.1:{read_port}",
        f"http://127.0.0.1:{metrics_port}/metrics",
        data_dir / "pgdata",
        log,
    )
    try:
        yield running
    finally:
        # Only after a failure is anything still running: never leak it into the next test.
        for proc in _processes_of(running):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        if process.poll() is None:
            process.kill()
            process.wait()


def _postmaster(pgdata: Path) -> psutil.Process | None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    try:
        return psutil.Process(int(pid_file.read_text().splitlines()[0]))
    except (psutil.NoSuchProcess, ValueError, IndexError):
        return None


def _processes_of(up: RunningUp) -> list[psutil.Process]:
    """`perpetua up`'s children and the embedded server with its backends."""
    found: list[psutil.Process] = []
    with contextlib.suppress(psutil.NoSuchProcess):
        found += psutil.Process(up.process.pid).children(recursive=True)
    postmaster = _postmaster(up.pgdata)
    if postmaster is not None:
        found.append(postmaster)
        with contextlib.suppress(psutil.NoSuchProcess):
            found += postmaster.children(recursive=True)
    return found


def _wait_until_ready(up: RunningUp, client: httpx.Client) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    pending = {f"{up.write_url}/health/ready", f"{up.read_url}/health/ready"}
    while pending and time.monotonic() < deadline:
        if up.process.poll() is not None:
            pytest.fail(f"perpetua up exited with {up.process.returncode}:\n{up.log_tail()}")
        for url in sorted(pending):
            try:
                if client.get(url).status_code == 200:
                    pending.discard(url)
            except httpx.HTTPError:
                pass  # not listening yet
        time.sleep(0.5)
    if pending:
        pytest.fail(f"not ready after {STARTUP_TIMEOUT_SECONDS} s: {pending}\n{up.log_tail()}")


@pytest.mark.e2e
def test_perpetua_up_serves_a_write_read_back_and_stops_without_leftovers(
    perpetua_up: RunningUp,
) -> None:
    up = perpetua_up
    with httpx.Client(timeout=10.0) as client:
        _wait_until_ready(up, client)

        login = client.post(
            f"{up.write_url}/api/v1/auth/dev-login",
            json={"email": "ada@example.com", "name": "Ada"},
        )
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}

        created = client.post(
            f"{up.write_url}/api/v1/tasks", json={"title": "Water the plants"}, headers=auth
        )
        assert created.status_code == 201, created.text
        task_id = created.json()["data"]["id"]
        position = created.headers["X-Event-Position"]

        # A projector process still starting (a loaded machine) is a 503 PROJECTION_LAGGING
        # with Retry-After, which a client honours: a few times, never for ever.
        for _ in range(10):
            read = client.get(
                f"{up.read_url}/api/v1/tasks/{task_id}",
                headers={**auth, "X-Min-Position": position},
            )
            if read.status_code != 503:
                break
            assert read.json()["error"]["code"] == "PROJECTION_LAGGING", read.text
            time.sleep(float(read.headers.get("Retry-After", "1")))
        assert read.status_code == 200, read.text
        assert read.json()["data"]["id"] == task_id
        assert read.json()["data"]["title"] == "Water the plants"
        assert int(read.headers["X-Projection-Position"]) >= int(position)

        _a_reminder_fires(up, client, auth, task_id)

    assert _postmaster(up.pgdata) is not None, "no embedded PostgreSQL running"
    children = psutil.Process(up.process.pid).children()
    assert len(children) == 4, f"expected write API, read API, projectors, scheduler: {children}"
    started = _processes_of(up)

    up.process.send_signal(signal.SIGINT)
    try:
        returncode = up.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"perpetua up still running {STOP_TIMEOUT_SECONDS} s after SIGINT")
    assert returncode == 0, up.log_tail()

    # psutil.Process remembers each process's start time, so a recycled pid is not mistaken
    # for a survivor.
    _, alive = psutil.wait_procs(started, timeout=10)
    assert alive == [], f"left running: {alive}\n{up.log_tail()}"
    assert _postmaster(up.pgdata) is None


def _a_reminder_fires(
    up: RunningUp, client: httpx.Client, auth: dict[str, str], task_id: str
) -> None:
    """The scheduler child fires a reminder set a few seconds ahead (a short, bounded wait;
    ahead enough that a slow request on a busy machine still sets it in the future)."""
    remind_at = (datetime.now(tz=UTC) + timedelta(seconds=5)).isoformat()
    added = client.post(
        f"{up.write_url}/api/v1/tasks/{task_id}/reminders",
        json={"remind_at": remind_at},
        headers=auth,
    )
    assert added.status_code == 201, added.text
    deadline = time.monotonic() + REMINDER_TIMEOUT_SECONDS
    while True:
        history = client.get(f"{up.read_url}/api/v1/tasks/{task_id}/history", headers=auth)
        assert history.status_code == 200, history.text
        if any(entry["type"] == "Task.ReminderFired" for entry in history.json()["data"]):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"no ReminderFired after {REMINDER_TIMEOUT_SECONDS} s\n{up.log_tail()}")
        time.sleep(0.25)
    metrics = client.get(up.scheduler_metrics_url)
    assert 'perpetua_reminders_fired_total{late="false"} 1.0' in metrics.text


def _perpetua(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI, arguments from the test
        [sys.executable, "-m", "perpetua", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_dev_mode_up_refuses_a_non_loopback_bind_before_starting_anything(
    tmp_path: Path,
) -> None:
    env = _clean_env(tmp_path / "data", _free_port(), _free_port())
    env["WRITE_API_HOST"] = "0.0.0.0"  # noqa: S104 - the address being refused

    result = _perpetua("up", cwd=tmp_path, env=env)

    assert result.returncode == 2, result.stderr
    assert "non-loopback" in result.stderr
    assert not (tmp_path / "data" / "pgdata").exists()


def test_keys_generate_json_prints_only_the_result_on_stdout(tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "data", _free_port(), _free_port())

    result = _perpetua(
        "keys", "generate", "--dir", "keys", "--kid", "k1", "--json", cwd=tmp_path, env=env
    )

    assert result.returncode == 0, result.stderr
    generated = json.loads(result.stdout)
    keys = (tmp_path / "keys").resolve()
    assert generated["kid"] == "k1"
    assert generated["env"] == {
        "JWT_PRIVATE_KEY_FILE": str(keys / "k1.private.pem"),
        "JWT_PUBLIC_KEYS_DIR": str(keys),
    }
    assert (keys / "k1.private.pem").stat().st_mode & 0o077 == 0
    assert (keys / "k1.public.pem").exists()

    again = _perpetua("keys", "generate", "--dir", "keys", "--kid", "k1", cwd=tmp_path, env=env)
    assert again.returncode != 0, "an existing key must never be overwritten"
