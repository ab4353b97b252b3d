"""`gridedge rules lint` and `gridedge rules test` (replay of a recording on a fake clock)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gridedge.cli import app
from gridedge.rules.model import BUILTIN_PACKS

PACKS = [str(p) for p in sorted(BUILTIN_PACKS.glob("*.yaml"))]
SHED_FIRE = Path(__file__).parent / "recordings" / "shed_fire.jsonl"


def test_lint_passes_the_builtin_packs() -> None:
    result = CliRunner().invoke(app, ["rules", "lint", *PACKS])
    assert result.exit_code == 0, result.output
    assert "charging_pile.yaml: ok (10 rules)" in result.output
    assert "warning" not in result.output


def test_lint_names_file_line_field_and_condition_column(tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("rules:\n- id: x\n  match: {role: smoke}\n  conditon: value\n")
    bad_expr = tmp_path / "expr.yaml"
    bad_expr.write_text(
        "rules:\n- id: hot\n  match: {role: temperature}\n  condition: value > > 3\n"
        "  severity: major\n  category: fire_safety.ebike_charging_overheat\n  title: t\n"
    )
    result = CliRunner().invoke(app, ["rules", "lint", str(typo), str(bad_expr)])
    assert result.exit_code == 1
    assert f"{typo}:4: rules.0.conditon: Extra inputs are not permitted" in result.output
    assert "rule 'hot', condition column 9: syntax error" in result.output


def test_lint_warns_of_a_role_no_profile_has(tmp_path: Path) -> None:
    pack = tmp_path / "p.yaml"
    pack.write_text(
        "rules:\n- id: x\n  match: {role: humidity}\n  condition: value > 90\n"
        "  severity: info\n  category: device.self_test\n  title: t\n"
    )
    result = CliRunner().invoke(app, ["rules", "lint", str(pack)])
    assert result.exit_code == 0
    assert "warning: rule 'x' matches role 'humidity', which no known profile has" in result.output


def test_replay_prints_exactly_the_events_of_a_shed_fire() -> None:
    result = CliRunner().invoke(app, ["rules", "test", *PACKS, "--readings", str(SHED_FIRE), "--tail", "60", "--json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(e["category"], e["status"], e["seq"], e["severity"]) for e in events] == [
        ("fire_safety.ebike_charging_overheat", "firing", 1, "major"),
        ("fire_safety.ebike_charging_fire", "firing", 1, "critical"),
        ("fire_safety.ebike_charging_overheat", "resolved", 2, "major"),  # superseded by the fire
        ("device.offline", "firing", 1, "major"),  # the recording ends: the pile is silent for over 30 s
        ("fire_safety.ebike_charging_fire", "resolved", 2, "critical"),  # 60 s after the smoke cleared
    ]
    assert "out_of_order 1" in result.stderr
    assert "bad_quality 1" in result.stderr


def test_replay_reports_bad_lines_and_goes_on(tmp_path: Path) -> None:
    recording = tmp_path / "r.jsonl"
    recording.write_text(
        '{"ts": 1800000000, "device": "SA-1", "point": "smoke", "value": true, "role": "smoke"}\n'
        "{not json\n"
        '{"ts": "yesterday", "device": "SA-1", "point": "smoke", "value": false}\n'
    )
    result = CliRunner().invoke(app, ["rules", "test", *PACKS, "--readings", str(recording)])
    assert result.exit_code == 1
    assert f"{recording}:2: (line): not JSON" in result.stderr
    assert f"{recording}:3: ts: Input should be a valid number" in result.stderr
    assert "fire_safety.smoke_alarm" in result.stdout
