from pathlib import Path

import pytest

from gridedge.devices.binding import bind
from gridedge.devices.inventory import Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profile, load_profiles
from gridedge.edge.config import parse_yaml
from gridedge.edge.errors import ConfigError

GOOD = (BUILTIN_PROFILES / "generic_smoke_alarm.yaml").read_text()


def _lint(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    return str(err.value)


def test_builtin_profiles_load() -> None:
    assert "generic-smoke-alarm" in load_profiles([BUILTIN_PROFILES])


def test_a_typo_names_file_line_and_field(tmp_path: Path) -> None:
    message = _lint(tmp_path, GOOD.replace("    role: tamper", "    rol: tamper"))
    line = GOOD.splitlines().index("    role: tamper") + 1
    assert f"p.yaml:{line}: points.1.rol: Extra inputs are not permitted" in message


def test_a_wrong_type_names_the_field(tmp_path: Path) -> None:
    message = _lint(tmp_path, GOOD.replace("    type: float", "    type: decimal"))
    assert "points.3.type: Input should be 'bool', 'int', 'float' or 'string'" in message


def test_a_self_contradicting_profile_is_refused(tmp_path: Path) -> None:
    message = _lint(tmp_path, GOOD.replace("  offline_after_s: 150", "  offline_after_s: 10"))
    assert "liveness: Value error, offline_after_s must be at least heartbeat_interval_s" in message
    message = _lint(tmp_path, GOOD.replace("  - name: tamper", "  - name: smoke"))
    assert "point name 'smoke' appears twice" in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    assert "p.yaml:2: not valid YAML" in _lint(tmp_path, "id: x\n\tvendor: y\n")


def test_a_device_with_an_unknown_profile_is_named() -> None:
    inventory = parse_yaml(
        "devices:\n  - id: SA-9\n    profile: no-such-alarm\n    location: {site: x}\n", Inventory, "inv.yaml"
    )
    with pytest.raises(ConfigError, match="unknown profile 'no-such-alarm' for device 'SA-9'"):
        bind(inventory, load_profiles([BUILTIN_PROFILES]), "inv.yaml")


def _modbus(tmp_path: Path, points: str, extra: str = "") -> str:
    return _lint(tmp_path, f"id: t\nvendor: v\nmodel: m\ntransport: {{type: modbus}}\n{extra}points:\n{points}")


def test_contradicting_modbus_points_are_refused(tmp_path: Path) -> None:
    overlap = (
        "  - {name: a, modbus: {address: 0, data_type: uint32}, type: int}\n"
        "  - {name: b, modbus: {address: 1}, type: int}\n"
    )
    assert "points 'a' and 'b' overlap at holding 1" in _modbus(tmp_path, overlap)
    bits = (
        "  - {name: a, modbus: {address: 0, bit: 0, bits: 2}, type: int}\n"
        "  - {name: b, modbus: {address: 0, bit: 1}, type: bool}\n"
    )
    assert "points 'a' and 'b' overlap at holding 0" in _modbus(tmp_path, bits)
    assert "points.0.path: a Modbus point has no `path`" in _modbus(tmp_path, "  - {name: a, path: x, type: int}\n")
    enum = "  - {name: a, modbus: {address: 0}, type: int, enum: {0: idle}}\n"
    assert "its type must be string" in _modbus(tmp_path, enum)
    assert "do not fit in uint16" in _modbus(
        tmp_path, "  - {name: a, modbus: {address: 0, bit: 15, bits: 2}, type: int}\n"
    )
    coil = "  - {name: a, modbus: {table: coil, address: 0, data_type: float32}, type: bool}\n"
    assert "a coil holds one bit" in _modbus(tmp_path, coil)
    ts = "  - {name: a, modbus: {address: 0}, type: int}\n"
    assert "5: timestamp: Modbus devices carry no timestamp" in _modbus(tmp_path, ts, "timestamp: {path: ts}\n")


def test_bitfields_may_share_a_register_and_ports_expand(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "id: t\nvendor: v\nmodel: m\ntransport: {type: mqtt, topic: 'x/{key}'}\n"
        "ports: {count: 3, name: ch, first: 0, points: [{name: t, path: 'ch[{i}].t', type: float}]}\n"
    )
    profile = load_profile(path)
    assert [(p.name, p.path) for p in profile.all_points()] == [
        ("ch0.t", "ch[0].t"),
        ("ch1.t", "ch[1].t"),
        ("ch2.t", "ch[2].t"),
    ]
