"""`gridedge profile`: the integrator's loop of write, lint, test, deploy, without Python."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
import yaml

from gridedge.cli.progress import tracked
from gridedge.edge.errors import ConfigError

NOT_IN_DUMP = "no value in the answer"

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
    file: Annotated[Path, typer.Argument(help="Profile YAML file.")],
    payload: Annotated[
        str,
        typer.Option(
            help="A sample: for MQTT the JSON payload, for Modbus a register dump "
            '({"holding": {"16": [2301, 312]}}); a file name or the text itself.'
        ),
    ],
) -> None:
    """Decode a sample payload or register dump with the profile and print the readings."""
    from gridedge.devices.binding import compile_any
    from gridedge.devices.decode import decode_json
    from gridedge.devices.profile import load_profile
    from gridedge.devices.registers import ModbusPlan, decode_registers, dump_answers, parse_dump

    try:
        profile = load_profile(file)
    except ConfigError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    sample = Path(payload)
    text = sample.read_bytes() if sample.is_file() else payload.encode()
    compiled = compile_any(profile)
    now = time.time()
    if isinstance(compiled, ModbusPlan):
        try:
            dump = parse_dump(yaml.safe_load(text))
        except (ValueError, yaml.YAMLError) as exc:
            typer.echo(f"{payload}: not a register dump: {exc}", err=True)
            raise typer.Exit(2) from None
        decoded = decode_registers(compiled, dump_answers(compiled, dump), "sample", now)
    else:
        decoded = decode_json(text, compiled, "sample", now)
    absent = [p for p in decoded.problems if p.endswith(NOT_IN_DUMP)]
    problems = [p for p in decoded.problems if not p.endswith(NOT_IN_DUMP)]
    shown = [r for r in decoded.readings if not any(p.startswith(f"{r.point} (") for p in absent)]
    width = max((len(r.point) for r in shown), default=5)
    for r in shown:
        value = json.dumps(round(r.value, 6) if isinstance(r.value, float) else r.value)
        typer.echo(f"{r.point:<{width}}  {value:>12} {r.unit or '':<6} {r.quality.value:<8} role={r.role or '-'}")
    if absent:
        typer.echo(f"({len(absent)} points not in the dump, e.g. {absent[0].split(' ')[0]})")
    for problem in problems:
        typer.echo(f"problem: {problem}", err=True)
    raise typer.Exit(1 if problems else 0)
