"""The load generator: its own process, a lean asyncio HTTP/1.1 client on keep-alive sockets.

    python -m bench.loadgen '<json spec>'   ->   one JSON report on stdout

A hand-rolled client rather than httpx: on a 2-core machine the client shares the CPU with
the server it measures, and httpx spends several times more per request than this does. The
report carries the generator's own CPU time, so a run can show it was not the bottleneck.

Modes (spec["mode"]):
* closed:  `clients` connections, each sends its next request when the last one answered,
           for `seconds` after `warmup` seconds: throughput at saturation. With `ports`, the
           clients are dealt out among several processes of the app.
* open:    requests started at a fixed `rate` per second whatever the answers do (no
           coordinated omission: latency counts from the planned start), over as many
           connections as needed: latency at a steady load.
* rounds:  one client, `rounds` times: a write, a plain read, a write then a read with
           X-Min-Position (read-your-writes).
* lag:     open-loop writes at `rate`; for each, the time from its answer (which follows
           its commit by one statement of the idempotency store) until the read side
           announces that position (the NOTIFY the read API waits on); 0 when the NOTIFY came
           first. Also, as `extra["from_event_time_ms"]`, the same from the event's own time
           (stamped before the save waits for the events table's lock): an upper bound.

Requests (spec["request"]): {"kind": "get", "path": ...} or {"kind": "patch"}, which edits
the client's own task (`tasks[i]`, given with its version) with a fresh Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

Response = tuple[int, dict[str, str], bytes]


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PATCH", "PUT"):
            head.append(f"content-length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        answer = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                answer[name.strip().lower()] = value.strip()
        if "content-length" in answer:
            content = await self.reader.readexactly(int(answer["content-length"]))
        elif answer.get("transfer-encoding") == "chunked":
            content = await self._chunks()
        else:
            content = b""
        if answer.get("connection") == "close":
            await self.close()
        return status, answer, content

    async def _chunks(self) -> bytes:
        assert self.reader is not None
        content = bytearray()
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            content += await self.reader.readexactly(size + 2)
            del content[-2:]
            if size == 0:  # no trailers: the CRLF after "0" ended the body
                return bytes(content)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class Task:
    """A client's own task and the version it last saw."""

    id: str
    version: int


@dataclass
class Report:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Requests:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.request = spec.get("request", {})
        self.token = spec.get("token")
        self.tokens: list[str] = spec.get("tokens", [])
        self.tasks = [Task(t["id"], t["version"]) for t in spec.get("tasks", [])]
        self.counter = 0

    def headers(self, client: int) -> dict[str, str]:
        token = self.tokens[client % len(self.tokens)] if self.tokens else self.token
        return {"authorization": f"Bearer {token}"} if token else {}

    async def send(self, conn: Connection, client: int) -> Response:
        kind = self.request.get("kind", "get")
        if kind == "get":
            return await conn.request("GET", self.request["path"], self.headers(client))
        return await self.patch(conn, client)

    async def patch(self, conn: Connection, client: int) -> Response:
        task = self.tasks[client % len(self.tasks)]
        self.counter += 1
        body = json.dumps({"version": task.version, "title": f"bench {self.counter}"}).encode()
        headers = {
            **self.headers(client),
            "content-type": "application/json",
            "idempotency-key": uuid.uuid4().hex,
        }
        status, answer, content = await conn.request(
            "PATCH", f"/api/v1/tasks/{task.id}", headers, body
        )
        if status == 200:
            task.version = json.loads(content)["data"]["version"]
        elif status == 409:  # someone else's write won: take the current version
            details = json.loads(content)["error"].get("details", {})
            task.version = details.get("current_version", task.version)
        return status, answer, content


async def closed_loop(spec: dict[str, Any], requests: Requests, report: Report) -> None:
    # `ports`: several processes of one app; the clients are dealt out among them.
    host, ports = spec["host"], spec.get("ports") or [spec["port"]]
    warmup, seconds = spec.get("warmup", 2.0), spec["seconds"]
    started = time.perf_counter()
    measure_from, stop_at = started + warmup, started + warmup + seconds

    async def client(number: int) -> None:
        conn = Connection(host, ports[number % len(ports)])
        while (now := time.perf_counter()) < stop_at:
            try:
                status, _, _ = await requests.send(conn, number)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                report.errors += 1
                await conn.close()
                continue
            if now >= measure_from:
                report.latencies_ms.append((time.perf_counter() - now) * 1000)
                report.statuses[status] += 1
        await conn.close()

    await asyncio.gather(*(client(n) for n in range(spec["clients"])))
    report.extra["seconds"] = seconds


async def open_loop(spec: dict[str, Any], requests: Requests, report: Report) -> None:
    host, port, rate = spec["host"], spec["port"], spec["rate"]
    warmup, seconds = spec.get("warmup", 2.0), spec["seconds"]
    idle: list[Connection] = []
    pending: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    total = int((warmup + seconds) * rate)

    async def one(number: int, planned: float) -> None:
        conn = idle.pop() if idle else Connection(host, port)
        try:
            status, _, _ = await requests.send(conn, number)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            report.errors += 1
            await conn.close()
            return
        idle.append(conn)
        if planned - started >= warmup:
            report.latencies_ms.append((time.perf_counter() - planned) * 1000)
            report.statuses[status] += 1

    for number in range(total):
        planned = started + number / rate
        delay = planned - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(number, planned))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    for conn in idle:
        await conn.close()
    report.extra["seconds"] = seconds


async def rounds(spec: dict[str, Any], requests: Requests, report: Report) -> None:
    """Write; plain read; write then read at its position. Interleaved, one client."""
    write = Connection(spec["host"], spec["port"])
    read = Connection(spec["read_host"], spec["read_port"])
    samples: dict[str, list[float]] = {"write": [], "read": [], "write_then_read": []}
    task = requests.tasks[0]
    for number in range(spec["rounds"] + spec.get("warmup_rounds", 20)):
        record = number >= spec.get("warmup_rounds", 20)
        begun = time.perf_counter()
        await requests.patch(write, 0)
        wrote = time.perf_counter()
        await read.request("GET", f"/api/v1/tasks/{task.id}", requests.headers(0))
        read_done = time.perf_counter()
        status, answer, _ = await requests.patch(write, 0)
        position = answer.get("x-event-position", "0")
        headers = {**requests.headers(0), "x-min-position": position}
        status, _, _ = await read.request("GET", f"/api/v1/tasks/{task.id}", headers)
        both_done = time.perf_counter()
        report.statuses[status] += 1
        if record:
            samples["write"].append((wrote - begun) * 1000)
            samples["read"].append((read_done - wrote) * 1000)
            samples["write_then_read"].append((both_done - read_done) * 1000)
    report.extra["samples"] = samples
    await write.close()
    await read.close()


async def lag(spec: dict[str, Any], requests: Requests, report: Report) -> None:
    """Open-loop writes; lag = the write's answer -> NOTIFY of a task-list position >= it."""
    from datetime import datetime

    import psycopg

    answered: dict[int, float] = {}
    stamped: dict[int, float] = {}
    announced: list[tuple[int, float]] = []
    conn = await psycopg.AsyncConnection.connect(spec["conninfo"], autocommit=True)
    await conn.execute(f"LISTEN {spec['channel']}")

    async def listen() -> None:
        async for notify in conn.notifies():
            name, _, position = notify.payload.rpartition(":")
            if name == spec["projection"]:
                announced.append((int(position), time.time()))

    listener = asyncio.create_task(listen())
    host, port, rate = spec["host"], spec["port"], spec["rate"]
    total = int((spec.get("warmup", 2.0) + spec["seconds"]) * rate)
    skip = int(spec.get("warmup", 2.0) * rate)
    idle: list[Connection] = []
    started = time.perf_counter()

    async def one(number: int) -> None:
        client = idle.pop() if idle else Connection(host, port)
        try:
            status, answer, content = await requests.patch(client, number)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            report.errors += 1
            await client.close()
            return
        answered_at = time.time()
        idle.append(client)
        report.statuses[status] += 1
        if status == 200 and number >= skip:
            position = int(answer["x-event-position"])
            answered[position] = answered_at
            event_time = datetime.fromisoformat(json.loads(content)["data"]["updated_at"])
            stamped[position] = event_time.timestamp()

    pending = []
    for number in range(total):
        delay = started + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(one(number)))
    await asyncio.gather(*pending)
    await asyncio.sleep(1.0)
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await listener
    await conn.close()
    from_event_time = []
    for position, at in answered.items():
        seen = next((when for reached, when in announced if reached >= position), None)
        if seen is None:
            report.errors += 1
        else:
            report.latencies_ms.append(max(0.0, seen - at) * 1000)
            from_event_time.append((seen - stamped[position]) * 1000)
    report.extra["from_event_time_ms"] = from_event_time


MODES = {"closed": closed_loop, "open": open_loop, "rounds": rounds, "lag": lag}


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    report = Report()
    requests = Requests(spec)
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    asyncio.run(MODES[spec["mode"]](spec, requests, report))
    cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
    json.dump(
        {
            "latencies_ms": report.latencies_ms,
            "statuses": {str(k): v for k, v in report.statuses.items()},
            "errors": report.errors,
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            "tasks": [{"id": t.id, "version": t.version} for t in requests.tasks],
            **report.extra,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
