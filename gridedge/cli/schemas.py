"""`gridedge schemas`: write the published JSON Schemas and OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def schemas(out: Annotated[Path, typer.Option(help="Directory to write into.")] = Path("schemas")) -> None:
    """Write the published JSON Schemas (grid event, device profile, rule pack, gateway config)."""
    from gridedge.gateway.schemas import write_schemas

    for path in write_schemas(out):
        typer.echo(f"wrote {path}")
