"""`gridedge doctor`: check a gateway's config and surroundings, one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def doctor(config: Annotated[Path, typer.Option(help="Gateway configuration file.")]) -> None:
    """Check config, state dir, API port, brokers, telemetry, serial ports and cameras; one line each."""
    from rich.console import Console

    from gridedge.gateway.doctor import diagnose

    console = Console(highlight=False)
    with console.status("checking..."):
        checks = diagnose(config)
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = "[green]ok  [/]" if c.ok else "[bold red]FAIL[/]"
        console.print(f"{mark} {c.name:<{width}}  {c.detail}", soft_wrap=True, markup=True)
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)
