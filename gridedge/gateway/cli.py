"""The `gridedge` command line."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from gridedge.edge.errors import ConfigError
from gridedge.gateway.cli_bridge import bridge_app
from gridedge.gateway.cli_ops import register_ops
from gridedge.gateway.cli_profile import profile_app
from gridedge.gateway.cli_rules import rules_app
from gridedge.gateway.cli_vision import vision_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help="GridEdge: smart-community edge gateway.")
app.add_typer(profile_app, name="profile")
app.add_typer(rules_app, name="rules")
app.add_typer(vision_app, name="vision")
app.add_typer(bridge_app, name="bridge")
register_ops(app)  # gridedge doctor

LogLevel = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


def _logging(level: str) -> None:
    from gridedge.gateway.logs import configure_logging  # text, or JSON with GRIDEDGE_LOG_FORMAT=json

    configure_logging(level)


def _run_until_signal(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """Run `main(stop)`; SIGINT/SIGTERM set `stop` so every part shuts down in order and exits 0."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def _fail(err: ConfigError) -> None:
    typer.echo(str(err), err=True)
    raise typer.Exit(2)


@app.command()
def agent(
    config: Annotated[Path, typer.Option(help="Gateway configuration file.")], log_level: LogLevel = "info"
) -> None:
    """Run the gateway agent."""
    from gridedge.gateway.agent import Agent
    from gridedge.gateway.settings import load_gateway_config

    _logging(log_level)
    try:
        the_agent = Agent(load_gateway_config(config))
    except ConfigError as err:
        _fail(err)
    _tune_gc()
    _run_until_signal(the_agent.run)


def _tune_gc() -> None:
    """Everything made at start-up lives as long as the process: keep it out of the collector's scans
    (`freeze`), and collect the young generation every 20,000 allocations instead of 700. Each device
    message makes about ten short-lived objects, so at the default the collector ran every 70
    messages and, profiled, cost a third of the ingest path."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@app.command()
def center(
    config: Annotated[Path, typer.Option(help="Centre configuration file.")], log_level: LogLevel = "info"
) -> None:
    """Run the grid centre (ingest, API and console)."""
    from gridedge.center.service import run_center
    from gridedge.center.settings import load_center_config

    _logging(log_level)
    try:
        settings = load_center_config(config)
    except ConfigError as err:
        _fail(err)
    _run_until_signal(lambda stop: run_center(settings, stop=stop))


@app.command()
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
    from gridedge.gateway.demo import run_demo

    _logging(log_level)

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

    _run_until_signal(main)


@app.command()
def bench(
    name: Annotated[str, typer.Argument(help="Scenario name, or `all`.")],
    quick: Annotated[bool, typer.Option(help="Smaller sizes, for a smoke check.")] = False,
) -> None:
    """Run a benchmark scenario; prints a table and writes bench/results/NAME.json."""
    from bench.harness import run_scenarios

    _logging("warning")
    raise typer.Exit(run_scenarios(name, quick=quick))


@app.command()
def schemas(out: Annotated[Path, typer.Option(help="Directory to write into.")] = Path("schemas")) -> None:
    """Write the published JSON Schemas (grid event, device profile, rule pack, gateway config)."""
    from gridedge.gateway.schemas import write_schemas

    for path in write_schemas(out):
        typer.echo(f"wrote {path}")


def main() -> None:
    app()
