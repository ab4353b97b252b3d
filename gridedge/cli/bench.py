"""`gridedge bench`: run a benchmark scenario from a GridEdge checkout.

The benchmarks (bench/) are not part of the installed package: they need the repository's Node-RED
peer, test tooling and a place to write results. The command imports them from the working
directory and writes bench/results/NAME.json there, never into site-packages.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gridedge.cli.common import configure_logging

HARNESS = Path("bench") / "harness.py"


def bench(
    name: Annotated[str, typer.Argument(help="Scenario name, or `all`.")],
    quick: Annotated[bool, typer.Option(help="Smaller sizes, for a smoke check.")] = False,
) -> None:
    """Run a benchmark scenario (from a GridEdge checkout); prints a table and writes bench/results/NAME.json."""
    checkout = Path.cwd()
    if not (checkout / HARNESS).is_file():
        typer.echo(f"gridedge bench runs in a GridEdge checkout: no {HARNESS} in {checkout}", err=True)
        raise typer.Exit(2)
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    from bench import harness

    if not Path(harness.__file__).is_relative_to(checkout):
        typer.echo(f"bench found at {harness.__file__}, not in {checkout}: run from the checkout", err=True)
        raise typer.Exit(2)
    configure_logging("warning")
    raise typer.Exit(harness.run_scenarios(name, quick=quick))
