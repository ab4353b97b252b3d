"""`gridedge center`: run the grid centre."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridedge.cli.common import LogLevel, configure_logging, fail, run_until_signal
from gridedge.edge.errors import ConfigError


def center(
    config: Annotated[Path, typer.Option(help="Centre configuration file.")], log_level: LogLevel = "info"
) -> None:
    """Run the grid centre (ingest, API and console)."""
    from gridedge.center.service import run_center
    from gridedge.center.settings import load_center_config

    configure_logging(log_level)
    try:
        settings = load_center_config(config)
    except ConfigError as err:
        fail(err)
    run_until_signal(lambda stop: run_center(settings, stop=stop))
