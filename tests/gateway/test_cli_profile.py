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
    assert "not in the sample: 72 points (port2.voltage, port2.current," in result.output
    strict = runner.invoke(app, ["profile", "test", PILE, "--strict", "--payload", json.dumps(dump)])
    assert strict.exit_code == 1
    result = runner.invoke(app, ["profile", "test", PILE, "--payload", '{"holdings": {}}'])
    assert result.exit_code == 2
    assert "'holdings': not a table" in result.output


def test_a_path_the_sample_lacks_is_reported_and_fails_with_strict(tmp_path: Path) -> None:
    sample = json.dumps({"ts": 1_700_000_000_250, "state": {"smoke": True}})
    smoke = str(BUILTIN_PROFILES / "generic_smoke_alarm.yaml")
    result = runner.invoke(app, ["profile", "test", smoke, "--payload", sample])
    assert result.exit_code == 0, result.output
    assert "device time: 2023-11-14T22:13:20.250+00:00" in result.output
    assert "not in the sample: 8 points (tamper, low_battery, battery," in result.output
    result = runner.invoke(app, ["profile", "test", smoke, "--strict", "--payload", sample])
    assert result.exit_code == 1


def test_a_dump_with_hex_addresses_and_signed_values(tmp_path: Path) -> None:
    dump = '{"holding": {"0x10": [2281, 96, 220, 0, 13, -35, 3, 1]}}'  # port 1 at -3.5 degC
    result = runner.invoke(app, ["profile", "test", PILE, "--payload", dump])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines() if line.strip()}
    assert lines["port1.temperature"][:2] == ["-3.5", "degC"]
    result = runner.invoke(app, ["profile", "test", PILE, "--payload", '{"holding": {"0x1G": [1]}}'])
    assert result.exit_code == 2
    assert "holding.0x1G: not a register address" in result.output
