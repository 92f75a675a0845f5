"""`perpetua events verify`: is the event store intact?

Walks the whole store, the way a projection replays it, and checks that every event decodes
(its class still resolves and its data still maps), that every aggregate's versions run 1..n
without a hole, and that positions only ever increase. Gaps between positions are counted but
are not damage: an append that rolls back (an optimistic-concurrency retry, say) burns its
sequence numbers, and the store's table lock makes appends commit in position order, so no
event can hide in a gap (docs/decisions.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

BATCH_SIZE = 1000
MAX_LISTED_PROBLEMS = 50


@dataclass
class StoreReport:
    events: int = 0
    aggregates: int = 0
    first_position: int = 0
    last_position: int = 0
    position_gaps: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_store(app: Application[Any]) -> StoreReport:
    report = StoreReport()
    _check_events(app, report)
    _check_versions(app, report)
    return report


def _check_events(app: Application[Any], report: StoreReport) -> None:
    previous = 0
    while batch := app.recorder.select_notifications(
        start=previous, limit=BATCH_SIZE, inclusive_of_start=False
    ):
        for note in batch:
            if note.id <= previous:
                _problem(report, f"position {note.id} does not follow {previous}")
            elif previous and note.id > previous + 1:
                report.position_gaps += 1
            try:
                app.mapper.to_domain_event(note)
            except Exception as error:  # any failure to decode is what we look for
                _problem(report, f"position {note.id} ({note.topic}) does not decode: {error}")
            previous = note.id
            report.events += 1
            report.first_position = report.first_position or note.id
    report.last_position = previous


def _check_versions(app: Application[Any], report: StoreReport) -> None:
    recorder = app.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    table = SQL("{}.{}").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
    )
    with recorder.datastore.transaction(commit=False) as cursor:
        row = cursor.execute(
            SQL("SELECT count(DISTINCT originator_id) AS n FROM {}").format(table)
        ).fetchone()
        report.aggregates = row["n"] if row else 0
        broken = cursor.execute(
            SQL(
                "SELECT originator_id, min(originator_version) AS first,"
                " max(originator_version) AS last, count(*) AS n FROM {}"
                " GROUP BY originator_id"
                " HAVING min(originator_version) <> 1 OR max(originator_version) <> count(*)"
            ).format(table)
        ).fetchall()
    for aggregate in broken:
        _problem(
            report,
            f"aggregate {aggregate['originator_id']} has versions {aggregate['first']}.."
            f"{aggregate['last']} but {aggregate['n']} events",
        )


def _problem(report: StoreReport, message: str) -> None:
    if len(report.problems) < MAX_LISTED_PROBLEMS:
        report.problems.append(message)
