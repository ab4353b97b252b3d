"""`gridedge profile`: the integrator's loop of write, lint, test, deploy, without Python."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gridedge.cli.progress import tracked
from gridedge.edge.errors import ConfigError

profile_app = typer.Typer(no_args_is_help=True, help="Write and check device profiles.")


@profile_app.command("lint")
def profile_lint(files: Annotated[list[Path], typer.Argument(help="Profile YAML files.")]) -> None:
    """Check profiles against the schema and for contradictions; errors name file, line and field."""
    from gridedge.devices.binding import compile_any
    from gridedge.devices.profile import load_profile
    from gridedge.devices.registers import ModbusPlan

    failed = 0
    with tracked(files, "linting") as paths:
        for path in paths:
            try:
                profile = load_profile(path)
            except ConfigError as err:
                typer.echo(str(err), err=True)
                failed += 1
                continue
            compiled = compile_any(profile)
            reads = f", {len(compiled.reads)} Modbus reads a poll" if isinstance(compiled, ModbusPlan) else ""
            typer.echo(f"{path}: ok ({profile.id}, {len(profile.all_points())} points{reads})")
    raise typer.Exit(1 if failed else 0)


@profile_app.command("test")
def profile_test(
    file: Annotated[Path, typer.Argument(help="Profile file (.yaml, .yml or .json).")],
    payload: Annotated[
        str,
        typer.Option(
            help="A sample: for MQTT the payload, for Modbus a register dump "
            '({"holding": {"16": [2301, 312]}}, addresses may be hex, values signed); a file name or the text.'
        ),
    ],
    strict: Annotated[
        bool, typer.Option("--strict", help="Also fail when a point of the profile is not in the sample.")
    ] = False,
) -> None:
    """Decode a sample payload or register dump with the profile and print the readings, the device's
    time and the points the sample does not hold."""
    from gridedge.devices.profile import load_profile
    from gridedge.devices.sample import try_sample

    try:
        profile = load_profile(file)
    except ConfigError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    sample = Path(payload)
    text = sample.read_bytes() if len(payload) < 4096 and sample.is_file() else payload.encode()
    try:
        result = try_sample(profile, text, time.time())
    except ValueError as exc:
        typer.echo(f"{payload}: not a register dump: {exc}", err=True)
        raise typer.Exit(2) from None
    width = max((len(r.point) for r in result.readings), default=5)
    for r in result.readings:
        value = json.dumps(round(r.value, 6) if isinstance(r.value, float) else r.value)
        typer.echo(f"{r.point:<{width}}  {value:>12} {r.unit or '':<6} {r.quality.value:<8} role={r.role or '-'}")
    if result.device_time is not None:
        stamp = datetime.fromtimestamp(result.device_time, UTC).isoformat(timespec="milliseconds")
        typer.echo(f"device time: {stamp}")
    if result.absent:
        shown = ", ".join(result.absent[:12]) + (", ..." if len(result.absent) > 12 else "")
        typer.echo(f"not in the sample: {len(result.absent)} points ({shown})")
    if result.other_kinds:
        typer.echo(f"of other message kinds: {', '.join(result.other_kinds)}")
    for problem in result.problems:
        typer.echo(f"problem: {problem}", err=True)
    raise typer.Exit(1 if result.problems or (strict and result.absent) else 0)
