"""What every command shares: logging, running until a signal, failing on a bad config file."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, NoReturn

import typer

from gridedge.edge.errors import ConfigError

LogLevel = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


def configure_logging(level: str) -> None:
    from gridedge.cli.logs import configure_logging  # text, or JSON with GRIDEDGE_LOG_FORMAT=json

    configure_logging(level)


def run_until_signal(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """Run `main(stop)`; SIGINT/SIGTERM set `stop` so every part shuts down in order and exits 0."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def fail(err: ConfigError) -> NoReturn:
    typer.echo(str(err), err=True)
    raise typer.Exit(2)
