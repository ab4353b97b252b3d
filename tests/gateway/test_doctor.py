"""`gridedge doctor` says what is wrong, one line per check."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gridedge.cli import app
from tests.gateway.ops_support import gateway_config
from tests.servers import Mosquitto, free_port


def write_config(tmp_path: Path, broker: str, api_port: int) -> Path:
    config = gateway_config(tmp_path, broker, api_port=api_port)
    path = tmp_path / "gateway.yaml"
    doc = config.model_dump(mode="json", exclude={"api": {"token"}}, exclude_none=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def doctor(path: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["doctor", "--config", str(path)])
    return result.exit_code, result.output.splitlines()


@pytest.mark.integration
def test_a_healthy_gateway_is_all_ok(broker: Mosquitto, tmp_path: Path) -> None:
    code, lines = doctor(write_config(tmp_path, broker.url, free_port()))
    assert code == 0, lines
    assert [line.split()[0] for line in lines] == ["ok"] * len(lines)
    assert any("southbound broker" in line and broker.url in line for line in lines)


def test_each_problem_is_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        path = write_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}", taken.getsockname()[1])
        code, lines = doctor(path)
    assert code == 1
    failed = {line.split()[1] for line in lines if line.startswith("FAIL")}
    assert failed == {"api", "southbound", "uplink"}


def test_a_wrong_config_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("gateway:\n  id: gw-1\n  gird: {}\n", encoding="utf-8")
    code, lines = doctor(path)
    assert code == 1
    assert any(f"{path}:3: gateway.gird" in line for line in lines), lines


def test_the_inventory_its_buses_and_profiles_are_checked(tmp_path: Path) -> None:
    path = write_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}", free_port())
    doc = yaml.safe_load(path.read_text())
    dead = free_port()
    doc["southbound"]["modbus"] = [
        {"type": "tcp", "name": "shed", "host": "127.0.0.1", "port": dead},
        {"type": "rtu", "name": "line-1", "port": str(tmp_path / "ttyUSB9")},
    ]
    doc["profile_dirs"] = ["profiles", "missing"]
    doc["inventory_file"] = "devices.yaml"
    path.write_text(yaml.safe_dump(doc))
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "acme.yaml~").write_text("id: acme\n")
    devices = "devices:\n  - id: EP-9\n    profile: ebike-charging-pile-10\n    location: {site: s}\n"
    devices += "    modbus: {bus: shedd, unit: 2}\n  - id: X-1\n    profile: acme\n    location: {site: s}\n"
    (tmp_path / "devices.yaml").write_text(devices)
    code, lines = doctor(path)
    assert code == 1
    failed = [line for line in lines if line.startswith("FAIL")]
    expected = [
        f"{tmp_path / 'profiles'}: not loaded, not named *.yaml, *.yml or *.json: acme.yaml~",
        f"{tmp_path / 'missing'}: profile directory does not exist",
        f"{tmp_path / 'devices.yaml'}:5: devices.0.modbus.bus: unknown bus 'shedd' for device 'EP-9'",
        f"{tmp_path / 'devices.yaml'}:7: devices.1.profile: unknown profile 'acme' for device 'X-1'",
        f"127.0.0.1:{dead}:",
        f"{tmp_path / 'ttyUSB9'} does not exist",
    ]
    for text in expected:
        assert any(text in line for line in failed), (text, failed)
