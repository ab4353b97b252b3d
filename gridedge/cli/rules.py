"""`gridedge rules`: check rule packs, and try them on a recorded reading stream before deploying."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gridedge.cli.progress import tracked
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.edge.alert import Alert
from gridedge.edge.clock import FakeClock
from gridedge.edge.errors import ConfigError
from gridedge.rules.compiled import compile_pack, compile_rule
from gridedge.rules.engine import RuleEngine
from gridedge.rules.model import RuleError, RulePack, load_rule_pack, merge_packs
from gridedge.rules.replay import BadLine, Record, parse_recording, replay

rules_app = typer.Typer(no_args_is_help=True, help="Check rule packs and replay recorded readings through them.")

Packs = Annotated[list[Path], typer.Argument(help="Rule pack YAML files (checked together: rules may refer across).")]


def _load(files: list[Path]) -> RulePack:
    pack = merge_packs([load_rule_pack(f) for f in files])
    compile_pack(pack)
    return pack


def _known_roles(profile_dirs: list[Path]) -> set[str]:
    profiles = load_profiles([BUILTIN_PROFILES, *profile_dirs])
    return {p.role for profile in profiles.values() for p in profile.all_points() if p.role}


@rules_app.command("lint")
def lint(
    files: Packs,
    profiles: Annotated[list[Path], typer.Option("--profiles", help="Profile directories besides the built-in.")] = [],  # noqa: B006 (typer reads the default, never mutates it)
) -> None:
    """Check rule packs: schema (file, line, field), conditions (rule, column), references; warn on roles
    no known profile has."""
    failed = 0
    for path in files:
        try:
            pack = load_rule_pack(path)
            for rule in pack.rules:
                compile_rule(rule)
        except (ConfigError, RuleError) as err:
            typer.echo(f"{path}: {err}" if isinstance(err, RuleError) else str(err), err=True)
            failed += 1
            continue
        typer.echo(f"{path}: ok ({len(pack.rules)} rules)")
    if failed:
        raise typer.Exit(1)
    try:
        pack = _load(files)  # references (all_of, inhibits) and ids across the files
    except (ConfigError, RuleError) as err:
        typer.echo(f"together: {err}", err=True)
        raise typer.Exit(1) from None
    roles = _known_roles(profiles)
    for rule in pack.rules:
        if rule.match is not None and rule.match.role is not None and rule.match.role not in roles:
            typer.echo(f"warning: rule {rule.id!r} matches role {rule.match.role!r}, which no known profile has")


def _line(a: Alert) -> str:
    when = datetime.fromtimestamp(a.observed_at, tz=UTC).isoformat(timespec="seconds")
    return f"{when}  {a.status.value:<8} seq {a.seq}  {a.severity.value:<8} {a.category:<40} {a.dedup_key}  {a.title}"


def _records(path: Path, bad: list[BadLine]) -> list[Record]:
    out: list[Record] = []
    with path.open(encoding="utf-8") as lines:
        for item in parse_recording(lines):
            if isinstance(item, BadLine):
                bad.append(item)
                typer.echo(f"{path}:{item.line}: {item.problem}", err=True)
            else:
                out.append(item)
    return out


@rules_app.command("test")
def replay_recording(
    files: Packs,
    readings: Annotated[Path, typer.Option(help="Recorded readings, JSON lines (docs/rules.md).")],
    tail: Annotated[float, typer.Option(help="Seconds of silence to play after the last reading.")] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per revision.")] = False,
) -> None:
    """Replay a recording through rule packs on a fake clock and print every event revision raised."""
    try:
        pack = _load(files)
    except (ConfigError, RuleError) as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    bad: list[BadLine] = []
    records = _records(readings, bad)
    clock = FakeClock()
    engine = RuleEngine(pack, clock)
    count = 0
    with tracked(records, "replaying") as played:
        for alert in replay(engine, clock, played, tail_s=tail):
            count += 1
            if as_json:
                doc = {
                    "event_id": alert.event_id,
                    "seq": alert.seq,
                    "status": alert.status.value,
                    "severity": alert.severity.value,
                    "category": alert.category,
                    "dedup_key": alert.dedup_key,
                    "device_id": alert.device_id,
                    "title": alert.title,
                    "observed_at": alert.observed_at,
                }
                typer.echo(json.dumps(doc, ensure_ascii=False))
            else:
                typer.echo(_line(alert))
    counters = ", ".join(f"{k} {v}" for k, v in sorted(engine.counters.items()))
    summary = f"{len(records)} records, {count} revisions" + (f"; {counters}" if counters else "")
    typer.echo(summary + (f"; {len(bad)} bad lines" if bad else ""), err=True)
    raise typer.Exit(1 if bad else 0)
