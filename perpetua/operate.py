"""Operator commands: projections, events verify, audit export, db grant-analyst."""

from __future__ import annotations

import getpass
import json
import re
import sys
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from infra.database import grant_analyst as grant_analyst_role
from infra.database import release_embedded_postgres
from perpetua.console import JsonOption, err, out, setup

ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


projections_app = typer.Typer(help="Watch and rebuild the read models.", no_args_is_help=True)
events_app = typer.Typer(help="Check the event store.", no_args_is_help=True)
audit_app = typer.Typer(help="What auditors read.", no_args_is_help=True)
db_app = typer.Typer(help="Database access for people.", no_args_is_help=True)


@db_app.command("grant-analyst")
def grant_analyst(
    role: Annotated[str, typer.Argument(help="The PostgreSQL role (created if missing).")],
    json_output: JsonOption = False,
) -> None:
    """Give ROLE SELECT on the read model (schema `read`) only: never the event store."""
    settings = setup(tool=True)
    if not ROLE_NAME.match(role):
        err.print("[red]a role name is 1-63 letters, digits or underscores[/red]")
        raise typer.Exit(2)
    from perpetua.wiring import database_of, prepare_database

    try:
        address = database_of(settings)
        prepare_database(address)
        created = grant_analyst_role(address, role)
    finally:
        release_embedded_postgres()
    if json_output:
        out.print_json(json.dumps({"role": role, "created": created, "schema": "read"}))
        return
    verb = "created and granted" if created else "granted"
    out.print(f"role [bold]{role}[/bold] {verb} SELECT on schema read (and future tables there)")


@audit_app.command("export")
def audit_export(
    user: Annotated[UUID, typer.Option("--user", help="The user whose activity to export.")],
    export_format: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl (default) or csv.")
    ] = ExportFormat.jsonl,
) -> None:
    """Every event of one user, oldest first, from the activity log, on stdout."""
    settings = setup(tool=True)
    from perpetua.wiring import audit_export as export

    try:
        for line in export(settings, user, export_format.value):
            sys.stdout.write(line)
    finally:
        sys.stdout.flush()
        release_embedded_postgres()


@events_app.command("verify")
def verify(json_output: JsonOption = False) -> None:
    """Check the store: every event decodes, versions contiguous, positions increasing."""
    settings = setup(tool=True)
    from perpetua.wiring import verify_event_store

    try:
        report = verify_event_store(settings)
    finally:
        release_embedded_postgres()
    if json_output:
        out.print_json(json.dumps({**asdict(report), "intact": report.intact}))
    else:
        verdict = "[green]intact[/green]" if report.intact else "[red]DAMAGED[/red]"
        out.print(f"event store {verdict}: {report.events} events, {report.aggregates} aggregates")
        out.print(
            f"positions {report.first_position}..{report.last_position}, "
            f"{report.position_gaps} gap(s) from rolled-back appends (harmless)"
        )
        for problem in report.problems:
            out.print(f"[red]- {problem}[/red]")
    if not report.intact:
        raise typer.Exit(1)


@projections_app.command("status")
def status(json_output: JsonOption = False) -> None:
    """Per projection: position, store head, lag in events and seconds, state (and why it is
    failing, if it is)."""
    settings = setup(tool=True)
    from perpetua.wiring import projection_status

    try:
        statuses = projection_status(settings)
    finally:
        release_embedded_postgres()
    if json_output:
        out.print_json(json.dumps([asdict(s) for s in statuses]))
        return
    table = Table(title="Projections")
    for column in ("projection", "position", "head", "lag (events)", "lag (seconds)", "state"):
        table.add_column(column, justify="left" if column in ("projection", "state") else "right")
    for s in statuses:
        colour = {"up to date": "green", "behind": "yellow"}.get(s.state, "red")
        table.add_row(
            s.name,
            str(s.position),
            str(s.head),
            str(s.lag_events),
            f"{s.lag_seconds:.1f}",
            f"[{colour}]{s.state}[/{colour}]",
        )
    out.print(table)
    for s in statuses:
        if s.state in ("failing", "failed"):
            # The error is the exception's own text: not Rich markup.
            out.print(
                f"[red]{s.name}[/red] cannot apply position {s.failing_position} "
                f"({s.failing_event_type}), {s.attempts} attempt(s): {escape(s.error or '')}"
            )
        if s.state == "failed":
            out.print(
                f"  it has stopped there; once the cause is understood: "
                f"perpetua projections skip {s.name} {s.failing_position} --reason '...'"
            )


@projections_app.command("skip")
def skip(
    name: Annotated[str, typer.Argument(help="The projection.")],
    position: Annotated[int, typer.Argument(help="The store position of the event to skip.")],
    reason: Annotated[str, typer.Option(help="Why: kept with who and when, for auditors.")],
    json_output: JsonOption = False,
) -> None:
    """Let a projection pass over one event it cannot apply; recorded and honoured by rebuilds."""
    settings = setup(tool=True)
    from perpetua.wiring import projection_names, skip_event

    if name not in projection_names():
        err.print(f"[red]unknown projection: {escape(name)}[/red]")
        err.print(f"known: {', '.join(projection_names())}")
        raise typer.Exit(2)
    if not reason.strip():
        err.print("[red]--reason must say why[/red]")
        raise typer.Exit(2)
    try:
        skipped = skip_event(settings, name, position, reason=reason, by=getpass.getuser())
    finally:
        release_embedded_postgres()
    if skipped is None:
        err.print(f"[red]there is no event at position {position}[/red]")
        raise typer.Exit(1)
    if json_output:
        out.print_json(json.dumps(asdict(skipped), default=str))
        return
    out.print(
        f"[bold]{name}[/bold] skips position {skipped.position} ({skipped.event_type}), "
        f"recorded by {escape(skipped.skipped_by)} at {skipped.skipped_at:%Y-%m-%d %H:%M:%S %Z}"
    )


@projections_app.command("rebuild")
def rebuild(
    names: Annotated[
        list[str] | None, typer.Argument(help="Projections to rebuild (default: all).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Replay the store into fresh tables and swap them in; reads go on meanwhile."""
    settings = setup(tool=True)
    # The replay's hottest modules compiled, where `make install` built them (infra/compiled.py):
    # asked for before the wiring imports them.
    from infra.compiled import use_compiled

    use_compiled()
    from perpetua.wiring import projection_names, rebuild_projections
    from projectors.rebuild import RebuildInProgressError

    chosen = list(names or projection_names())
    unknown = sorted(set(chosen) - set(projection_names()))
    if unknown:
        err.print(f"[red]unknown projection(s): {', '.join(unknown)}[/red]")
        err.print(f"known: {', '.join(projection_names())}")
        raise typer.Exit(2)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} events/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=err, disable=json_output) as progress:
            # One read of the store feeds every chosen projection: one bar for all of them.
            task = progress.add_task(", ".join(chosen), total=None, rate=0.0)

            def advance(position: int, head: int) -> None:
                elapsed = progress.tasks[task].elapsed or 0.0
                rate = position / elapsed if elapsed else 0.0
                progress.update(task, completed=position, total=head, rate=rate)

            reports = rebuild_projections(settings, chosen, advance)
    except RebuildInProgressError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    finally:
        release_embedded_postgres()
    if json_output:
        out.print_json(json.dumps([asdict(r) for r in reports]))
        return
    for report in reports:
        out.print(
            f"rebuilt [bold]{report.projection}[/bold]: {report.events} events, "
            f"now at position {report.position}"
        )
