"""`gridedge agent`: run the gateway agent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridedge.cli.common import LogLevel, configure_logging, fail, run_until_signal
from gridedge.edge.errors import ConfigError


def agent(
    config: Annotated[Path, typer.Option(help="Gateway configuration file.")], log_level: LogLevel = "info"
) -> None:
    """Run the gateway agent."""
    from gridedge.gateway.agent import Agent
    from gridedge.gateway.runtime import tune_process
    from gridedge.gateway.settings import load_gateway_config

    configure_logging(log_level)
    try:
        settings = load_gateway_config(config)
        the_agent = Agent(settings)
    except ConfigError as err:
        fail(err)
    tune_process(settings.runtime)
    run_until_signal(the_agent.run)
