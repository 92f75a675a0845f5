"""The `perpetua` command line: one entry point for running and operating the service.

Kept thin: each command resolves settings and logging through `_setup`, then hands over
to the wiring (apps and projectors), the supervisor (`up`) or infra (keys). Operator
command groups (`projections`, `events`, `audit`, `db`) live in operate.py.
"""

import json
import os
import subprocess
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from eventsourcing.persistence import PersistenceError
from rich.table import Table

from infra.database import (
    DatabaseAddress,
    release_embedded_postgres,
    resolve_database,
)
from infra.settings import Settings
from perpetua.console import JsonOption, err, out, setup
from perpetua.operate import audit_app, db_app, events_app, projections_app
from perpetua.serve import (
    run_until_signalled,
    serve_http,
    signals_deferred,
    signals_raise_exit,
)
from perpetua.supervisor import ChildSpec, Supervisor, perpetua_command

app = typer.Typer(
    name="perpetua",
    help="Perpetua Flow: event-sourced task manager backend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold secrets (keys, DATABASE_URL)
)
keys_app = typer.Typer(help="RS256 signing keys for access tokens.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(projections_app, name="projections")
app.add_typer(events_app, name="events")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")

# -- shared set-up -------------------------------------------------------------------------


def _check_bind(settings: Settings, host: str) -> None:
    try:
        settings.check_safe_to_serve(host)
    except RuntimeError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


def _http_url(host: str, port: int) -> str:
    """A URL a local client can use for a bind address (wildcards mean loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _describe_database(settings: Settings) -> str:
    if settings.database_url:
        try:
            a = DatabaseAddress.from_url(settings.database_url)  # never print the password
        except ValueError:
            return "DATABASE_URL (not a postgresql:// URL)"
        return f"PostgreSQL {a.user}@{a.host}:{a.port}/{a.dbname}"
    return f"embedded PostgreSQL, data in {settings.embedded_pgdata_dir.resolve()}"


def _print_summary(
    settings: Settings, write_url: str, read_url: str, *, all_ready: bool, json_output: bool
) -> None:
    """What `perpetua up` is running and where, once every child has started."""
    status = "ready" if all_ready else "started"
    database = _describe_database(settings)
    data_dir = str(settings.perpetua_data_dir.resolve())
    port = settings.scheduler_metrics_port
    scheduler_metrics = (
        f"{_http_url(settings.scheduler_metrics_host, port)}/metrics" if port else None
    )
    if json_output:
        summary = {
            "status": status,
            "env": settings.perpetua_env,
            "write_api": write_url,
            "read_api": read_url,
            "docs": [f"{write_url}/docs", f"{read_url}/docs"],
            "scheduler_metrics": scheduler_metrics,
            "database": database,
            "data_dir": data_dir,
            "dev_login": f"{write_url}/api/v1/auth/dev-login" if settings.is_dev else None,
        }
        out.print_json(data=summary)
        return
    table = Table(title=f"Perpetua Flow is {status}", show_header=False)
    table.add_row("write API (commands)", write_url)
    table.add_row("  docs", f"{write_url}/docs")
    table.add_row("read API (queries)", read_url)
    table.add_row("  docs", f"{read_url}/docs")
    table.add_row("scheduler metrics", scheduler_metrics or "off")
    table.add_row("database", database)
    table.add_row("data directory", data_dir)
    if settings.is_dev:
        table.add_row("mode", "dev: POST /api/v1/auth/dev-login is enabled")
    else:
        table.add_row("mode", settings.perpetua_env)
    if settings.is_dev and settings.jwt_private_key_file is None:
        table.add_row("token keys", f"dev keys in {settings.keys_dir.resolve()}")
    out.print(table)
    if not all_ready:
        out.print("[yellow]not every /health/ready answered 200 yet; still running[/yellow]")
    out.print("Press [bold]Ctrl-C[/bold] to stop everything.")


# -- perpetua up -----------------------------------------------------------------------------


@app.command()
def up(json_output: JsonOption = False) -> None:
    """Run the whole service: (embedded) PostgreSQL, write API, read API, projectors,
    scheduler."""
    # With --json, stdout carries only the summary: every log line goes to stderr.
    settings = setup(tool=json_output)
    env_overrides: dict[str, str] = {
        # Children must find the same data directory whatever their working directory.
        "PERPETUA_DATA_DIR": str(settings.perpetua_data_dir.resolve()),
        "PYTHONUNBUFFERED": "1",
    }
    if not settings.database_url and "perpetua_env" not in settings.model_fields_set:
        # The zero-configuration quick start: dev mode (dev-login, generated keys) unless
        # the environment or .env chose a mode explicitly; readable logs for a terminal.
        env_overrides["PERPETUA_ENV"] = "dev"
        if "log_format" not in settings.model_fields_set:
            env_overrides["LOG_FORMAT"] = "console"
    # Set for this process too: the children inherit os.environ.
    os.environ.update(env_overrides)
    settings = setup(tool=json_output)
    _check_bind(settings, settings.write_api_host)
    _check_bind(settings, settings.read_api_host)

    write_url = _http_url(settings.write_api_host, settings.write_api_port)
    read_url = _http_url(settings.read_api_host, settings.read_api_port)
    specs = [
        # The write API goes first: it creates the event store tables (and dev keys) that
        # the others then find in place.
        ChildSpec(
            "write API",
            perpetua_command("writeapi"),
            started_url=f"{write_url}/health/live",
            ready_url=f"{write_url}/health/ready",
        ),
        ChildSpec(
            "read API",
            perpetua_command("readapi"),
            started_url=f"{read_url}/health/live",
            ready_url=f"{read_url}/health/ready",
        ),
        ChildSpec("projectors", perpetua_command("projector")),
        ChildSpec("scheduler", perpetua_command("scheduler")),
    ]

    def report(message: str) -> None:
        if not json_output:
            err.print(f"[dim]perpetua up:[/dim] {message}")

    def on_ready(all_ready: bool) -> None:
        _print_summary(settings, write_url, read_url, all_ready=all_ready, json_output=json_output)

    report(f"database: {_describe_database(settings)}")
    code = 1
    # Until the supervisor takes over the signals, SIGTERM unwinds to the `finally` below
    # like Ctrl-C does, so a half-started embedded server is still released.
    with signals_raise_exit():
        try:
            # The database comes first, in this process: the children attach to the same
            # embedded server, and it outlives them because this process holds it last.
            try:
                with signals_deferred():
                    address = resolve_database(settings.database_url, settings.embedded_pgdata_dir)
                # Tables too, once, before the children race each other to create them.
                from perpetua.wiring import prepare_database

                prepare_database(address)
            except (
                psycopg.Error,
                PersistenceError,
                OSError,
                ValueError,
                subprocess.SubprocessError,
            ) as error:
                err.print(f"[red]cannot use the database: {error}[/red]")
                raise typer.Exit(1) from None
            supervisor = Supervisor(
                specs, env=os.environ, on_event=report, logs_to_stderr=json_output
            )
            code = supervisor.run(on_ready)
        finally:
            # After every child has exited: the embedded server stops with its last holder.
            release_embedded_postgres()
            report("stopped")
    raise typer.Exit(code)


# -- the separate processes ------------------------------------------------------------------

HostOption = Annotated[str | None, typer.Option(help="Bind address (default from settings).")]
PortOption = Annotated[int | None, typer.Option(help="Port (default from settings).")]


@app.command()
def writeapi(host: HostOption = None, port: PortOption = None) -> None:
    """Serve the write API (commands) until SIGTERM/SIGINT."""
    settings = setup(write_api_host=host, write_api_port=port)
    _check_bind(settings, settings.write_api_host)
    from perpetua.wiring import build_write_api  # lazily: keeps `perpetua --help` fast

    try:
        serve_http(
            lambda: build_write_api(settings), settings.write_api_host, settings.write_api_port
        )
    finally:
        release_embedded_postgres()


@app.command()
def readapi(host: HostOption = None, port: PortOption = None) -> None:
    """Serve the read API (queries) until SIGTERM/SIGINT."""
    settings = setup(read_api_host=host, read_api_port=port)
    _check_bind(settings, settings.read_api_host)
    from perpetua.wiring import build_read_api

    try:
        serve_http(lambda: build_read_api(settings), settings.read_api_host, settings.read_api_port)
    finally:
        release_embedded_postgres()


@app.command()
def projector(
    names: Annotated[
        list[str] | None, typer.Argument(help="Projections to run (default: all).")
    ] = None,
) -> None:
    """Run projections (all, or the NAMES given) until SIGTERM/SIGINT."""
    settings = setup()
    from perpetua.wiring import projection_names, run_projectors

    chosen = list(names or [])
    unknown = sorted(set(chosen) - set(projection_names()))
    if unknown:
        err.print(f"[red]unknown projection(s): {', '.join(unknown)}[/red]")
        err.print(f"known: {', '.join(projection_names())}")
        raise typer.Exit(2)
    try:
        run_until_signalled(lambda stop: run_projectors(settings, chosen, stop))
    finally:
        release_embedded_postgres()


@app.command()
def scheduler() -> None:
    """Fire due reminders and create recurring tasks until SIGTERM/SIGINT."""
    settings = setup()
    from perpetua.wiring import run_scheduler

    try:
        run_until_signalled(lambda stop: run_scheduler(settings, stop))
    finally:
        release_embedded_postgres()


# -- perpetua keys -------------------------------------------------------------------------


@keys_app.command("generate")
def keys_generate(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to write the pair (default: <data dir>/keys)."),
    ] = None,
    kid: Annotated[str | None, typer.Option(help="Key id (default: generated).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Write a new RS256 key pair for signing access tokens."""
    settings = setup(tool=True)
    from infra.keys import KeyConfigurationError, generate_key_pair

    directory = (directory or settings.keys_dir).resolve()
    try:
        new_kid = generate_key_pair(directory, kid)
    except KeyConfigurationError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    except FileExistsError:
        err.print(f"[red]a key with id {kid!r} already exists in {directory}[/red]")
        raise typer.Exit(1) from None
    private = directory / f"{new_kid}.private.pem"
    public = directory / f"{new_kid}.public.pem"
    # The public keys dir may hold the private key too: it is skipped when loading.
    env = {"JWT_PRIVATE_KEY_FILE": str(private), "JWT_PUBLIC_KEYS_DIR": str(directory)}
    if json_output:
        result = {
            "kid": new_kid,
            "private_key": str(private),
            "public_key": str(public),
            "env": env,
        }
        out.print_json(json.dumps(result))
        return
    out.print(f"generated RS256 key pair [bold]{new_kid}[/bold]")
    out.print(f"  private  {private}")
    out.print(f"  public   {public}")
    out.print("Keep the private key secret: only the write API reads it. To use the pair, set:")
    for name, value in env.items():
        out.print(f"  {name}={value}")
