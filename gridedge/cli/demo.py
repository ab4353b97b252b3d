"""`gridedge demo`: broker, simulated smoke alarms, the agent and the centre in one process."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from gridedge.cli.common import LogLevel, configure_logging, run_until_signal


def demo(
    broker: Annotated[
        str | None, typer.Option(help="Use this broker (mqtt://HOST:PORT) instead of starting one.")
    ] = None,
    duration: Annotated[float | None, typer.Option(help="Stop cleanly after this many seconds.")] = None,
    http_port: Annotated[int, typer.Option(help="Port of the centre's web page.")] = 8080,
    fleet: Annotated[
        float, typer.Option(help="Also simulate a block of 200 devices at this many messages/s (evening peak 3x).")
    ] = 0.0,
    log_level: LogLevel = "info",
) -> None:
    """Run broker, simulated smoke alarms, the agent and the centre together."""
    from gridedge.devtools.demo import run_demo

    configure_logging(log_level)

    async def main(stop: asyncio.Event) -> None:
        demo_task = asyncio.create_task(run_demo(broker, duration, http_port, fleet))
        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({demo_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        if not demo_task.done():
            demo_task.cancel()
        await asyncio.gather(demo_task, return_exceptions=True)
        if not demo_task.cancelled() and demo_task.exception() is not None:
            raise demo_task.exception()  # type: ignore[misc]

    run_until_signal(main)
