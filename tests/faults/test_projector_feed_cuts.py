"""The projector's database connections cut while it follows a stream of commands: the read
models lose nothing, come back by themselves, and go on applying each batch together."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from commands.messages import CreateTask
from infra.database import DatabaseAddress
from infra.settings import Settings
from perpetua.wiring import build_application
from projections.registry import PROJECTIONS
from tests.fakes.tcp_proxy import TcpProxy
from tests.faults.conftest import FaultLedger
from tests.integration.support import (
    every_projection_running,
    positions_seen,
    pro_user,
    task_rows,
    wait_for_all,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration]

CUTS = 5


def test_projections_cut_off_mid_stream_catch_up_and_still_move_together(
    fresh_database: DatabaseAddress, faults: FaultLedger
) -> None:
    writer = build_application(Settings(), fresh_database)
    owner = pro_user(writer, "cut@example.com")
    titles: list[str] = []
    with TcpProxy(fresh_database.host, fresh_database.port) as proxy:
        # Only the projector goes through the proxy; the commands reach the database directly.
        proxied = replace(fresh_database, host="127.0.0.1", port=proxy.port)
        followed = build_application(Settings(), proxied, subscriptions=len(PROJECTIONS))
        try:
            with every_projection_running(proxied, followed) as running:
                workers = list(running.values())
                writing = threading.Event()

                def write() -> None:
                    while not writing.is_set():
                        title = f"task {len(titles)}"
                        writer.create_task(CreateTask(actor=owner, title=title))
                        titles.append(title)
                        time.sleep(0.005)

                commands = threading.Thread(target=write)
                commands.start()
                for _ in range(CUTS):
                    time.sleep(0.3)
                    proxy.cut()
                    faults.injected += 1
                writing.set()
                commands.join(timeout=30)
                wait_for_all(workers, writer.recorder.max_notification_id() or 0)

                # Back on the shared feed: each batch is applied for all of them at once.
                with positions_seen(fresh_database) as seen:
                    for number in range(20):
                        title = f"after {number}"
                        writer.create_task(CreateTask(actor=owner, title=title))
                        titles.append(title)
                    wait_for_all(workers, writer.recorder.max_notification_id() or 0)
        finally:
            followed.close()
            writer.close()

    assert seen
    assert [sample for sample in seen if len(sample) > 1] == []
    projected = [row["title"] for row in task_rows(fresh_database, "read")]
    faults.lost += len(set(titles) - set(projected))
    faults.duplicated += len(projected) - len(set(projected))
    assert sorted(projected) == sorted(titles)
