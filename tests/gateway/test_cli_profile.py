"""`gridedge profile lint` and `gridedge profile test`: the integrator's loop without Python."""

import json
from pathlib import Path

from typer.testing import CliRunner

from gridedge.cli import app
from gridedge.devices.profile import BUILTIN_PROFILES

PILE = str(BUILTIN_PROFILES / "ebike_charging_pile_10.yaml")
IR = str(BUILTIN_PROFILES / "ir_shopfront_sensor.yaml")
runner = CliRunner()


def test_lint_reports_reads_per_poll_and_names_file_line_and_field(tmp_path: Path) -> None:
    result = runner.invoke(app, ["profile", "lint", PILE])
    assert result.exit_code == 0
    assert "ok (ebike-charging-pile-10, 84 points, 2 Modbus reads a poll)" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text((BUILTIN_PROFILES / "ebike_charging_pile_10.yaml").read_text().replace("stride: 16", "stride: 4"))
    result = runner.invoke(app, ["profile", "lint", str(bad), PILE])
    assert result.exit_code == 1
    assert "bad.yaml:" in result.output
    assert "overlap at holding 20" in result.output


def test_an_mqtt_sample_prints_readings_and_fails_on_problems(tmp_path: Path) -> None:
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"presence": True, "dwell_s": 12.5, "beam_breaks": 3}))
    result = runner.invoke(app, ["profile", "test", IR, "--payload", str(sample)])
    assert result.exit_code == 0, result.output
    assert any(line.split()[:3] == ["dwell", "12.5", "s"] for line in result.output.splitlines())
    result = runner.invoke(app, ["profile", "test", IR, "--payload", '{"presence": "maybe"}'])
    assert result.exit_code == 1
    assert "problem: presence: expected bool" in result.output


def test_a_register_dump_decodes_the_points_it_covers() -> None:
    dump = {"holding": {"0": [0, 440, 1], "16": [2281, 96, 220, 0, 13, 312, 3, 1]}}
    result = runner.invoke(app, ["profile", "test", PILE, "--payload", json.dumps(dump)])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines() if line.strip()}
    assert lines["port1.voltage"][:2] == ["228.1", "V"]
    assert lines["port1.state"][0] == '"charging"'
    assert lines["arc_fault"][0] == "true"
    assert "(72 points not in the dump, e.g. port2.voltage)" in result.output
    result = runner.invoke(app, ["profile", "test", PILE, "--payload", '{"holdings": {}}'])
    assert result.exit_code == 2
    assert "'holdings': not a table" in result.output
