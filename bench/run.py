"""`make bench`: every benchmark, each against its baseline in the same run.

    python -m bench [GROUP ...]      groups: reads commands rss rebuild (default: all)

Prints a table (min / median / max over the repetitions) and writes bench/results.json.
Sizes and durations come from the environment (see bench/README.md): BENCH_REPEAT,
BENCH_SECONDS, BENCH_STORE_EVENTS, BENCH_RUNNER_EVENTS, BENCH_RSS_REQUESTS.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg

from aggregates.task import Task
from bench import store
from bench.common import (
    ROOT,
    Child,
    Spread,
    bench_database,
    database_url,
    free_port,
    percentile,
    rss_mb,
    say,
    service_env,
    start,
)
from commands.application import PerpetuaApplication
from infra.database import DatabaseAddress
from infra.keys import load_key_set
from infra.settings import Settings
from infra.tokens import TokenIssuer
from perpetua.wiring import build_application, limits_of, prepare_database

GROUPS = ("reads", "commands", "rss", "rebuild")
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
SMALL_STORE = int(os.environ.get("BENCH_SMALL_EVENTS", "10000"))
BIG_STORE = int(os.environ.get("BENCH_STORE_EVENTS", "1000000"))
RUNNER_SAMPLE = int(os.environ.get("BENCH_RUNNER_EVENTS", "50000"))
RSS_REQUESTS = int(os.environ.get("BENCH_RSS_REQUESTS", "100000"))
RSS_MAX_SECONDS = float(os.environ.get("BENCH_RSS_MAX_SECONDS", "240"))
CLIENTS = 16
RESULTS = ROOT / "bench" / "results.json"


@dataclass
class Results:
    keys: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def spread(self, key: str, spread: Spread, **detail: Any) -> None:
        self.keys[key] = spread.as_dict()
        if detail:
            self.details[key] = detail
        say(f"{key}: min {spread.min:.3f}  median {spread.median:.3f}  max {spread.max:.3f}")


@dataclass
class Service:
    address: DatabaseAddress
    scratch: Path
    env: dict[str, str]
    reader: store.BenchUser
    writers: list[tuple[store.BenchUser, UUID]]
    tokens: dict[UUID, str] = field(default_factory=dict)
    children: dict[str, Child] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)

    def start(self, name: str, **env: str) -> Child:
        """Start a process of the service (`readapi-2`: another read API process), with `env`
        on top of the service's environment."""
        environment = {**self.env, **env}
        if name == "projector":
            child = start(name, ["-m", "perpetua", "projector"], environment, self.scratch)
        else:
            port = free_port()
            args = ["-m", "perpetua", name.partition("-")[0], "--port", str(port)]
            child = start(name, args, environment, self.scratch, port=port)
        self.children[name] = child
        self.served.setdefault(name, 0)
        return child

    def stop(self, name: str) -> None:
        child = self.children.pop(name, None)
        if child is not None:
            child.stop()

    def stop_all(self) -> None:
        for name in list(self.children):
            self.stop(name)

    def token(self, user_id: UUID) -> str:
        if user_id not in self.tokens:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                perpetua_env="dev",
                perpetua_data_dir=Path(self.env["PERPETUA_DATA_DIR"]),
            )
            issuer = TokenIssuer(
                load_key_set(settings, need_private=True), "perpetua", "perpetua-api", 7200
            )
            self.tokens[user_id] = issuer.issue(user_id, "pro")[0]
        return self.tokens[user_id]

    def head(self) -> int:
        with psycopg.connect(self.address.conninfo) as conn:
            row = conn.execute("SELECT max(notification_id) FROM events.perpetua_events")
            value = row.fetchone()
            return int(value[0]) if value and value[0] else 0

    def wait_projected(self, timeout: float = 600) -> None:
        """Until the read API answers at the store's head (every projection it reads)."""
        head, deadline = self.head(), time.monotonic() + timeout
        url = self.children["readapi"].url + "/api/v1/tasks?limit=1"
        headers = {"Authorization": f"Bearer {self.token(self.reader.id)}"}
        while time.monotonic() < deadline:
            answer = httpx.get(url, headers={**headers, "X-Min-Position": str(head)}, timeout=10)
            if answer.status_code == 200:
                return
            time.sleep(0.2)
        msg = "projections did not catch up"
        raise RuntimeError(msg)


def load(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the load generator in its own process; its JSON report."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.loadgen", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        msg = f"the load generator failed ({spec['mode']}): {done.stderr.decode()[-2000:]}"
        raise RuntimeError(msg)
    report: dict[str, Any] = json.loads(done.stdout)
    report["load_cpu_share"] = report["cpu_seconds"] / max(report["wall_seconds"], 1e-9)
    return report


def saturate(child: Child, path: str, token: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "mode": "closed",
        "host": "127.0.0.1",
        "port": child.port,
        "clients": CLIENTS,
        "seconds": SECONDS,
        "request": {"kind": "get", "path": path},
    }
    if token:
        spec["token"] = token
    report = load(spec)
    ok = report["statuses"].get("200", 0)
    report["rps"] = ok / SECONDS
    return report


def served(service: Service, name: str, report: dict[str, Any]) -> None:
    service.served[name] = service.served.get(name, 0) + sum(report["statuses"].values())


# -- reads -------------------------------------------------------------------------------------


def bench_reads(service: Service, results: Results) -> None:
    readapi = service.children["readapi"]
    token = service.token(service.reader.id)
    url = database_url(service.address)
    owner = str(service.reader.id)
    path = "/api/v1/tasks?limit=50"
    bare: dict[str, Child] = {}
    for kind in ("memory", "sql"):
        port = free_port()
        bare[kind] = start(
            f"bare-{kind}",
            ["-m", "bench.bare", kind, str(port), url, owner],
            service.env,
            service.scratch,
            port=port,
        )
    try:
        ratios, sql_ratios, ours, memory, sql, cpu = [], [], [], [], [], []
        for _ in range(REPEAT):
            memory_report = saturate(bare["memory"], path)
            sql_report = saturate(bare["sql"], path)
            our_report = saturate(readapi, path, token)
            served(service, "readapi", our_report)
            memory.append(memory_report["rps"])
            sql.append(sql_report["rps"])
            ours.append(our_report["rps"])
            cpu.append(max(r["load_cpu_share"] for r in (memory_report, sql_report, our_report)))
            ratios.append(our_report["rps"] / memory_report["rps"])
            sql_ratios.append(our_report["rps"] / sql_report["rps"])
        detail = {
            "readapi_rps": ours,
            "bare_memory_rps": memory,
            "bare_sql_rps": sql,
            "load_generator_cpu_share_max": cpu,
        }
        results.spread("read_ratio", Spread(tuple(ratios)), **detail)
        results.spread("read_sql_ratio", Spread(tuple(sql_ratios)), **detail)
    finally:
        for child in bare.values():
            child.stop()

    more_processes(service, path, token, one_process_rps=ours, results=results)

    p95s, cpu = [], []
    for _ in range(REPEAT):
        report = load(
            {
                "mode": "open",
                "host": "127.0.0.1",
                "port": readapi.port,
                "rate": 200,
                "seconds": SECONDS,
                "token": token,
                "request": {"kind": "get", "path": path},
            }
        )
        served(service, "readapi", report)
        p95s.append(percentile(report["latencies_ms"], 0.95))
        cpu.append(report["load_cpu_share"])
    results.spread("read_p95_ms", Spread(tuple(p95s)), load_generator_cpu_share=cpu)


def more_processes(
    service: Service, path: str, token: str, *, one_process_rps: list[float], results: Results
) -> None:
    """The same saturation with a second read API process beside the first, clients dealt
    out between them: what one more process gives on this machine (a detail, no target)."""
    second = service.start("readapi-2")  # started once it answers
    try:
        ports = [service.children["readapi"].port, second.port]
        both = []
        for _ in range(REPEAT):
            report = load({"mode": "closed", "host": "127.0.0.1", "ports": ports,
                           "clients": CLIENTS, "seconds": SECONDS, "token": token,
                           "request": {"kind": "get", "path": path}})  # fmt: skip
            both.append(report["statuses"].get("200", 0) / SECONDS)
    finally:
        service.stop("readapi-2")
    gain = statistics.median(both) / statistics.median(one_process_rps)
    results.details["read_two_processes"] = {
        "readapi_rps_one_process": one_process_rps,
        "readapi_rps_two_processes": both,
        "gain": gain,
    }
    say(f"read API, two processes: {gain:.2f}x one process")


def read_p50(service: Service) -> list[float]:
    """`GET /tasks` p50 for the reader, one client at a time, per repetition, from a read API
    without its page cache: a cached page never touches the database, and what scales with
    the store, if anything, is the query."""
    readapi = service.start("readapi-uncached", READ_CACHE_SIZE="0")
    try:
        return _read_p50(service, readapi)
    finally:
        service.stop("readapi-uncached")


def _read_p50(service: Service, readapi: Child) -> list[float]:
    values = []
    for _ in range(REPEAT):
        report = load(
            {
                "mode": "closed",
                "host": "127.0.0.1",
                "port": readapi.port,
                "clients": 1,
                "warmup": 1.0,
                "seconds": min(SECONDS, 3.0),
                "token": service.token(service.reader.id),
                "request": {"kind": "get", "path": "/api/v1/tasks?limit=50"},
            }
        )
        values.append(statistics.median(report["latencies_ms"]))
    return values


# -- commands ----------------------------------------------------------------------------------


def writer_spec(service: Service) -> dict[str, Any]:
    writeapi = service.children["writeapi"]
    versions = current_versions(service)
    return {
        "host": "127.0.0.1",
        "port": writeapi.port,
        "tokens": [service.token(user.id) for user, _ in service.writers],
        "tasks": [{"id": str(task), "version": versions[task]} for _, task in service.writers],
        "request": {"kind": "patch"},
    }


def current_versions(service: Service) -> dict[UUID, int]:
    with psycopg.connect(service.address.conninfo) as conn:
        rows = conn.execute(
            "SELECT originator_id, max(originator_version) FROM events.perpetua_events"
            " WHERE originator_id = ANY(%s) GROUP BY originator_id",
            ([task for _, task in service.writers],),
        ).fetchall()
    return {row[0]: row[1] for row in rows}


def library_application(address: DatabaseAddress) -> PerpetuaApplication:
    """The same aggregates on the library's own PostgreSQL recorder and its defaults (no
    aggregate cache): what `command_ratio` divides by. Same database, tables and pool."""
    env = {
        **address.eventsourcing_env(),
        "CREATE_TABLE": "n",
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
    }
    return PerpetuaApplication(env=env, limits=limits_of(Settings(_env_file=None)))  # type: ignore[call-arg]


def library_saves(address: DatabaseAddress, tasks: list[UUID], seconds: float) -> float:
    """The library's get + event + save of one aggregate per thread: saves per second."""
    app = library_application(address)
    try:
        return _library_saves(app, tasks, seconds)
    finally:
        app.close()


def _library_saves(app: PerpetuaApplication, tasks: list[UUID], seconds: float) -> float:
    rules = app._task_rules(app.limits.for_tier("pro"))
    stop_at = time.perf_counter() + 1.0 + seconds
    counted_from = stop_at - seconds

    def worker(task_id: UUID) -> int:
        saves = 0
        while (now := time.perf_counter()) < stop_at:
            task: Task = app.repository.get(task_id)
            task.update({"title": f"lib {saves}"}, expected_version=task.version, rules=rules)
            app.save(task)
            if now >= counted_from:
                saves += 1
        return saves

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        return sum(pool.map(worker, tasks)) / seconds


def bench_commands(service: Service, results: Results) -> None:
    ratios, ours, library, cpu = [], [], [], []
    tasks = [task for _, task in service.writers]
    for _ in range(REPEAT):
        library.append(library_saves(service.address, tasks, SECONDS))
        report = load({**writer_spec(service), "mode": "closed", "clients": CLIENTS,
                       "seconds": SECONDS})  # fmt: skip
        served(service, "writeapi", report)
        ours.append(report["statuses"].get("200", 0) / SECONDS)
        cpu.append(report["load_cpu_share"])
        ratios.append(ours[-1] / library[-1])
    results.spread(
        "command_ratio",
        Spread(tuple(ratios)),
        writeapi_commands_per_s=ours,
        library_saves_per_s=library,
        load_generator_cpu_share=cpu,
    )

    p95s = []
    for _ in range(REPEAT):
        report = load({**writer_spec(service), "mode": "open", "rate": 100, "seconds": SECONDS})
        served(service, "writeapi", report)
        p95s.append(percentile(report["latencies_ms"], 0.95))
    results.spread("command_p95_ms", Spread(tuple(p95s)))

    readapi = service.children["readapi"]
    ryw, parts = [], []
    for _ in range(REPEAT):
        spec = writer_spec(service)
        spec["tasks"], spec["tokens"] = spec["tasks"][:1], spec["tokens"][:1]
        report = load({**spec, "mode": "rounds", "rounds": 150, "read_port": readapi.port,
                       "read_host": "127.0.0.1"})  # fmt: skip
        served(service, "writeapi", report)
        samples = report["samples"]
        write, read = statistics.median(samples["write"]), statistics.median(samples["read"])
        both = statistics.median(samples["write_then_read"])
        parts.append({"write_p50": write, "read_p50": read, "write_then_read_p50": both})
        ryw.append(both / (write + read))
    results.spread("read_your_writes_ratio", Spread(tuple(ryw)), rounds=parts)

    lags, upper_bounds = [], []
    for _ in range(REPEAT):
        report = load(
            {
                **writer_spec(service),
                "mode": "lag",
                "rate": 100,
                "seconds": SECONDS,
                "conninfo": service.address.conninfo,
                "channel": "perpetua_projection_progress",
                "projection": "task_list",
            }
        )
        served(service, "writeapi", report)
        lags.append(percentile(report["latencies_ms"], 0.95))
        upper_bounds.append(percentile(report["from_event_time_ms"], 0.95))
    results.spread(
        "projection_lag_p95_ms", Spread(tuple(lags)), p95_ms_from_event_time=upper_bounds
    )


# -- memory ------------------------------------------------------------------------------------


def top_up(
    service: Service, name: str, spec: Callable[[], dict[str, Any]]
) -> list[tuple[int, float]]:
    """Send requests until the process has served RSS_REQUESTS (or RSS_MAX_SECONDS passed);
    (requests served, RSS MiB) before and after each 20-second round: whether memory still
    grows when the top-up stops short."""
    child = service.children[name]
    samples = [(service.served[name], child.rss_mb())]
    deadline = time.monotonic() + RSS_MAX_SECONDS
    while service.served[name] < RSS_REQUESTS and time.monotonic() < deadline:
        report = load({**spec(), "mode": "closed", "clients": CLIENTS, "warmup": 0,
                       "seconds": min(20.0, max(1.0, deadline - time.monotonic()))})  # fmt: skip
        served(service, name, report)
        samples.append((service.served[name], child.rss_mb()))
    return samples


def bench_rss(service: Service, results: Results) -> None:
    readapi = service.children["readapi"]
    token = service.token(service.reader.id)
    samples = {
        "readapi": top_up(
            service,
            "readapi",
            lambda: {"host": "127.0.0.1", "port": readapi.port, "token": token,
                     "request": {"kind": "get", "path": "/api/v1/tasks?limit=50"}},
        ),
        "writeapi": top_up(service, "writeapi", lambda: writer_spec(service)),
    }  # fmt: skip
    for name in ("readapi", "writeapi", "projector"):
        value = service.children[name].rss_mb()
        results.keys[f"rss_mb_{name}"] = Spread((value,)).as_dict()
        results.details[f"rss_mb_{name}"] = {"requests_served": service.served.get(name, 0)}
        if name in samples:
            results.details[f"rss_mb_{name}"]["requests_and_mb"] = samples[name]
        say(f"rss_mb_{name}: {value:.0f} MiB after {service.served.get(name, 0)} requests")


# -- rebuild -----------------------------------------------------------------------------------


def plain_scan(address: DatabaseAddress) -> float:
    """Read and JSON-decode every event of the store with psycopg: events per second."""
    started = time.perf_counter()
    count = 0
    with psycopg.connect(address.conninfo) as conn, conn.cursor(name="scan") as cursor:
        cursor.itersize = 5000
        cursor.execute(
            "SELECT notification_id, topic, state FROM events.perpetua_events"
            " ORDER BY notification_id"
        )
        for _, _, state in cursor:
            json.loads(state)
            count += 1
    return count / (time.perf_counter() - started)


def library_runner(address: DatabaseAddress, sample: int) -> float:
    """The library's ProjectionRunner (one event per transaction), every projection at once
    as the library would run them, over the first `sample` events: store events per second."""
    from eventsourcing.projection import ProjectionRunner

    from projections.registry import PROJECTIONS

    with psycopg.connect(address.conninfo, autocommit=True) as conn:
        target = conn.execute(
            "SELECT notification_id FROM events.perpetua_events ORDER BY notification_id"
            " OFFSET %s LIMIT 1",
            (sample - 1,),
        ).fetchone()
        assert target is not None
        for name in PROJECTIONS:
            conn.execute(f"DROP SCHEMA IF EXISTS bench_runner_{name} CASCADE")
            conn.execute(f"CREATE SCHEMA bench_runner_{name}")
    env = {**address.eventsourcing_env(), "CREATE_TABLE": "y", "POSTGRES_POOL_SIZE": "1"}
    for name in PROJECTIONS:
        env[f"{name.upper()}_POSTGRES_SCHEMA"] = f"bench_runner_{name}"
    runners = [
        ProjectionRunner(
            application_class=PerpetuaApplication,
            projection_class=projection,
            view_class=view,
            env=env,
        )
        for projection, view in PROJECTIONS.values()
    ]
    started = time.perf_counter()
    for runner in runners:
        runner.__enter__()
    try:
        while any((r.view.max_tracking_id("perpetua") or 0) < target[0] for r in runners):
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for runner in runners:
            runner.__exit__(None, None, None)
        with psycopg.connect(address.conninfo, autocommit=True) as conn:
            for name in PROJECTIONS:
                conn.execute(f"DROP SCHEMA IF EXISTS bench_runner_{name} CASCADE")
    return sample / elapsed


def rebuild_once(service: Service) -> tuple[float, float]:
    """`perpetua projections rebuild` (all): (store events per second, peak RSS MiB)."""
    head = service.head()
    started = time.perf_counter()
    log = (service.scratch / "rebuild.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "perpetua", "projections", "rebuild", "--json"],
        env=service.env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, rss_mb(process.pid))
        time.sleep(0.2)
    if process.returncode != 0:
        tail = (service.scratch / "rebuild.log").read_text(errors="replace")[-4000:]
        msg = f"rebuild failed:\n{tail}"
        raise RuntimeError(msg)
    return head / (time.perf_counter() - started), peak


def bench_rebuild(
    service: Service, app: PerpetuaApplication, results: Results, small_p50: list[float]
) -> None:
    service.stop_all()
    store.fill(app, BIG_STORE)
    head = service.head()
    scans = [plain_scan(service.address) for _ in range(REPEAT)]
    runner = library_runner(service.address, min(RUNNER_SAMPLE, head))
    say(f"plain scan {statistics.median(scans):,.0f} events/s; library runner {runner:,.0f}")
    rates, peaks = [], []
    for _ in range(REPEAT):
        rate, peak = rebuild_once(service)
        say(f"rebuild: {rate:,.0f} store events/s, peak RSS {peak:.0f} MiB")
        rates.append(rate)
        peaks.append(peak)
    results.spread(
        "rebuild_ratio",
        Spread(tuple(r / statistics.median(scans) for r in rates)),
        store_events=head,
        plain_scan_events_per_s=scans,
        library_runner_events_per_s=runner,
        library_runner_sample=min(RUNNER_SAMPLE, head),
    )
    results.spread("rebuild_events_per_s", Spread(tuple(rates)))
    results.spread("rebuild_vs_library_runner", Spread(tuple(r / runner for r in rates)))
    previous = results.keys.get("rss_mb_projector", {}).get("values", [])
    results.keys["rss_mb_projector"] = Spread((*previous, *peaks)).as_dict()
    results.details.setdefault("rss_mb_projector", {})["rebuild_peak_mb"] = peaks

    service.start("projector")
    service.start("readapi")
    service.wait_projected()
    big = read_p50(service)
    results.spread(
        "read_scaling",
        Spread(tuple(b / statistics.median(small_p50) for b in big)),
        p50_ms_small_store=small_p50,
        p50_ms_big_store=big,
        big_store_events=head,
    )


# -- the run -----------------------------------------------------------------------------------


@contextmanager
def service_on(address: DatabaseAddress, scratch: Path) -> Iterator[tuple[Service, Any]]:
    prepare_database(address)
    app = build_application(Settings(_env_file=None), address)  # type: ignore[call-arg]
    reader = store.reader_user(app)
    writers = store.writer_users(app, CLIENTS)
    service = Service(address, scratch, service_env(address, scratch), reader, writers)
    try:
        yield service, app
    finally:
        service.stop_all()
        app.close()


def run(groups: list[str]) -> Results:
    results = Results()
    with bench_database() as (address, scratch), service_on(address, scratch) as (service, app):
        store.fill(app, SMALL_STORE)
        for name in ("projector", "writeapi", "readapi"):
            service.start(name)
        service.wait_projected()
        small_p50 = read_p50(service)
        if "reads" in groups:
            bench_reads(service, results)
        if "commands" in groups:
            bench_commands(service, results)
        if "rss" in groups:
            bench_rss(service, results)
        if "rebuild" in groups:
            bench_rebuild(service, app, results, small_p50)
    return results


def table(results: Results) -> str:
    lines = [f"{'key':<28}{'min':>12}{'median':>12}{'max':>12}"]
    for key, value in results.keys.items():
        lines.append(f"{key:<28}{value['min']:>12.3f}{value['median']:>12.3f}{value['max']:>12.3f}")
    return "\n".join(lines)


def main() -> None:
    # A stopped run still drops its database and stops its embedded server (finally blocks).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    groups = sys.argv[1:] or list(GROUPS)
    unknown = set(groups) - set(GROUPS)
    if unknown:
        sys.exit(f"unknown groups {sorted(unknown)}; known: {', '.join(GROUPS)}")
    started = time.perf_counter()
    results = run(groups)
    elapsed = time.perf_counter() - started
    print(table(results))
    print(f"({elapsed / 60:.1f} min, {REPEAT} repetitions, {os.cpu_count()} CPUs)")
    # A run of some groups replaces their keys and keeps the others' (each key is measured
    # with its own baseline in one run; `measured_at` says which run).
    previous = (
        json.loads(RESULTS.read_text()) if RESULTS.exists() and set(groups) != set(GROUPS) else {}
    )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    keys = {**{k: v for k, v in previous.items() if k not in ("details", "settings")}}
    details = previous.get("details", {})
    for key, value in results.keys.items():
        keys[key] = {**value, "measured_at": stamp}
    details.update(results.details)
    RESULTS.write_text(
        json.dumps(
            {
                **keys,
                "details": details,
                "settings": {
                    **previous.get("settings", {}),
                    stamp: {
                        "groups": groups,
                        "repeat": REPEAT,
                        "seconds": SECONDS,
                        "store_events": BIG_STORE,
                        "runner_sample": RUNNER_SAMPLE,
                        "cpus": os.cpu_count(),
                        "minutes": elapsed / 60,
                    },
                },
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
