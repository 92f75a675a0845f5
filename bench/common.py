"""What every benchmark shares: a throwaway database, child processes, statistics.

Without DATABASE_URL an embedded PostgreSQL is started in a temporary directory (and stopped
at the end); with it, each run creates and drops its own database on that server.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from infra.database import DatabaseAddress, release_embedded_postgres, resolve_database

ROOT = Path(__file__).resolve().parent.parent


def create_database(server: DatabaseAddress) -> DatabaseAddress:
    name = f"perpetua_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.with_dbname(name)


def drop_database(server: DatabaseAddress, address: DatabaseAddress) -> None:
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(address.dbname))
        )


def database_url(address: DatabaseAddress) -> str:
    """A DATABASE_URL for child processes (a unix socket directory travels as ?host=)."""
    password = f":{address.password}" if address.password else ""
    if address.host.startswith("/"):
        return (
            f"postgresql://{address.user}{password}@/{address.dbname}"
            f"?host={address.host}&port={address.port}"
        )
    return f"postgresql://{address.user}{password}@{address.host}:{address.port}/{address.dbname}"


@contextmanager
def bench_database() -> Iterator[tuple[DatabaseAddress, Path]]:
    """A fresh database, and a scratch directory for keys and logs; both gone afterwards."""
    url = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="perpetua-bench-") as tmp:
        server = resolve_database(url, Path(tmp) / "pgdata")
        address = create_database(server)
        try:
            yield address, Path(tmp)
        finally:
            drop_database(server, address)
            if not url:
                release_embedded_postgres()


def service_env(address: DatabaseAddress, scratch: Path) -> dict[str, str]:
    """The environment the service's processes run with in a benchmark."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PERPETUA_", "DATABASE_URL"))
    }
    env.update(
        {
            "DATABASE_URL": database_url(address),
            "PERPETUA_ENV": "dev",  # generated keys in the scratch directory
            "PERPETUA_DATA_DIR": str(scratch / "data"),
            "ACCESS_TOKEN_TTL_SECONDS": "7200",
            "LOG_LEVEL": "WARNING",
            "SCHEDULER_METRICS_PORT": "0",
        }
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Child:
    """A process of the service (or a baseline app) started for a benchmark."""

    name: str
    process: subprocess.Popen[bytes]
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(
    name: str,
    args: Sequence[str],
    env: dict[str, str],
    scratch: Path,
    *,
    port: int | None = None,
    ready_path: str = "/health/live",
) -> Child:
    """Start `python -m ...args`; for HTTP servers, wait until `ready_path` answers."""
    log = (scratch / f"{name}.log").open("ab")
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and modules)
        [sys.executable, *args], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    child = Child(name, process, port)
    if port is not None:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                msg = f"{name} exited with {process.returncode}; see its log"
                raise RuntimeError(msg)
            try:
                if httpx.get(child.url + ready_path, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                child.stop()
                msg = f"{name} did not become ready"
                raise RuntimeError(msg)
            time.sleep(0.1)
    return child


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def percentile(samples: Sequence[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class Spread:
    """min / median / max of a figure over repetitions."""

    values: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "min": self.min,
            "median": self.median,
            "max": self.max,
            "values": list(self.values),
        }


def repeat(times: int, measure: Callable[[], float]) -> Spread:
    return Spread(tuple(measure() for _ in range(times)))


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
