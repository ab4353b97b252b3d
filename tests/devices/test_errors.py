"""Every profile and inventory error an integrator can make names the file, the line and the field,
cross-field ones included, with a "did you mean" where a name is close to a known one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridedge.devices.binding import bind
from gridedge.devices.inventory import Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profile, load_profiles
from gridedge.devices.sample import try_sample
from gridedge.edge.config import load_yaml
from gridedge.edge.errors import ConfigError

HEAD = "id: t\nvendor: v\nmodel: m\n"
MQTT = HEAD + "transport: {type: mqtt, topic: 'x/{key}'}\n"
MODBUS = HEAD + "transport: {type: modbus}\n"


def _refused(tmp_path: Path, text: str, name: str = "p.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    return str(err.value)


def _line(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


# (what, profile text, the line's fragment, field, message)
ERRORS = [
    (
        "unknown key, with a suggestion",
        MQTT + "points:\n  - name: a\n    path: a\n    type: bool\n    rol: smoke\n",
        "rol: smoke",
        "points.0.rol",
        "Extra inputs are not permitted; did you mean 'role'?",
    ),
    (
        "unknown key in the transport",
        HEAD + "transport:\n  type: mqtt\n  topc: 'x/{key}'\npoints: [{name: a, path: a, type: bool}]\n",
        "topc",
        "transport.mqtt.topc",
        "did you mean 'topic'?",
    ),
    (
        "a scaled int would lose its fraction",
        MODBUS + "points:\n  - name: v\n    modbus: {address: 0}\n    type: int\n    scale: 0.1\n",
        "scale: 0.1",
        "points.0.scale",
        "an int point scaled by 0.1 would lose its fraction (220.5 V read as 220): make it `type: float`",
    ),
    (
        "two points on one register (cross-field)",
        MODBUS + "points:\n  - {name: a, modbus: {address: 0, data_type: uint32}, type: int}\n"
        "  - name: b\n    modbus: {address: 1}\n    type: int\n",
        "modbus: {address: 1}",
        "points.1.modbus",
        "points 'a' and 'b' overlap at holding 1",
    ),
    (
        "an enum on a number",
        MQTT + "points:\n  - name: a\n    path: a\n    type: int\n    enum: {0: idle}\n",
        "enum:",
        "points.0.enum",
        "its type must be string",
    ),
    (
        "a map value of the wrong type",
        MQTT + "points:\n  - name: a\n    path: a\n    type: bool\n    map:\n      0: false\n      1: yes please\n",
        "1: yes please",
        "points.0.map.1",
        "'yes please' is not a bool",
    ),
    (
        "a name twice across ports (cross-field)",
        MQTT + "points: [{name: port1.t, path: t, type: float}]\n"
        "ports:\n  count: 2\n  points:\n    - name: t\n      path: 'p[{i}].t'\n      type: float\n",
        "- name: t",
        "ports.points.0.name",
        "point name 'port1.t' appears twice",
    ),
    (
        "an expression reading an unknown point",
        MQTT
        + "points:\n  - {name: raw, path: r, type: int}\n  - name: t\n    compute: (rw - 400) / 10\n    type: float\n",
        "compute:",
        "points.1.compute",
        "column 2: unknown point 'rw'; known: raw",
    ),
    (
        "an expression that is not one",
        MQTT
        + "points:\n  - {name: raw, path: r, type: int}\n  - name: t\n    compute: raw.__class__\n    type: float\n",
        "compute:",
        "points.1.compute",
        "attribute access is not allowed",
    ),
    (
        "`when` without a route",
        MQTT + "points:\n  - name: a\n    path: a\n    type: bool\n    when: [2]\n",
        "when: [2]",
        "points.0.when",
        "`when` needs a `route:`",
    ),
    (
        "a byte layout without bytes",
        MQTT + "points:\n  - name: a\n    layout: {offset: 1}\n    type: int\n",
        "layout:",
        "points.0.layout",
        "a `layout` needs `binary:`",
    ),
    (
        "bits past the layout's width",
        MQTT
        + "binary: {path: d}\npoints:\n  - name: a\n    layout: {offset: 0}\n    bit: 6\n    bits: 4\n    type: int\n",
        "bits: 4",
        "points.0.bits",
        "bits 6..9 do not fit in uint8",
    ),
    (
        "a role of the wrong type",
        MQTT + "points:\n  - name: a\n    path: a\n    type: string\n    role: smoke\n",
        "type: string",
        "points.0.type",
        "role 'smoke' is a bool (rules compare it so); got string",
    ),
    (
        "a unit the role's rules cannot take",
        MQTT + "family: charging_pile\npoints:\n  - name: t\n    path: t\n    type: float\n    role: temperature\n"
        "    unit: furlongs\n",
        "unit: furlongs",
        "points.0.unit",
        "role 'charging_pile.temperature' is in degC; cannot convert 'furlongs' (known: degC, K, degF)",
    ),
    (
        "a misspelt family role",
        MQTT + "points:\n  - name: t\n    path: t\n    type: float\n    role: charging_pile.temprature\n",
        "role:",
        "points.0.role",
        "unknown role 'charging_pile.temprature'; did you mean 'charging_pile.temperature'?",
    ),
    (
        "a timestamp on a Modbus device",
        MODBUS + "timestamp: {path: ts}\npoints: [{name: a, modbus: {address: 0}, type: int}]\n",
        "timestamp:",
        "timestamp",
        "Modbus devices carry no timestamp",
    ),
    (
        "a bit on a register written outside `modbus:`",
        MODBUS + "points:\n  - name: a\n    modbus: {address: 0}\n    bit: 3\n    type: bool\n",
        "bit: 3",
        "points.0.bit",
        "for a register write `bit` inside `modbus:`",
    ),
]


@pytest.mark.parametrize(("what", "text", "fragment", "field", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_an_error_names_file_line_and_field(
    tmp_path: Path, what: str, text: str, fragment: str, field: str, message: str
) -> None:
    refused = _refused(tmp_path, text)
    expected = f"p.yaml:{_line(text, fragment)}: {field}: "
    line = next((ln for ln in refused.splitlines() if expected in ln), None)
    assert line is not None, f"{what}: no {expected!r} in {refused!r}"
    assert message in line


def test_yml_and_json_profiles_load_and_other_names_are_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(MQTT.replace("id: t", "id: a") + "points: [{name: x, path: x, type: bool}]\n")
    (tmp_path / "b.json").write_text(
        json.dumps({"id": "b", "vendor": "v", "model": "m", "transport": {"type": "mqtt", "topic": "y/{key}"},
                    "points": [{"name": "x", "path": "x", "type": "bool"}]})
    )  # fmt: skip
    assert sorted(load_profiles([tmp_path])) == ["a", "b"]
    assert "p.yaml.txt:1: not a profile file: name it *.yaml, *.yml or *.json" in _refused(tmp_path, MQTT, "p.yaml.txt")
    (tmp_path / "c.yaml").write_text((tmp_path / "a.yml").read_text())
    with pytest.raises(ConfigError, match=r"c.yaml:1: id: profile id 'a' is also defined in .*a.yml"):
        load_profiles([tmp_path])


def test_a_json_profile_error_names_its_line(tmp_path: Path) -> None:
    text = '{"id": "b", "vendor": "v", "model": "m",\n "transport": {"type": "mqtt", "topic": "y/{key}"},\n'
    text += ' "points": [\n  {"name": "x", "path": "x", "typ": "bool"}]}\n'
    assert "p.json:4: points.0.typ: Extra inputs are not permitted; did you mean 'type'?" in _refused(
        tmp_path, text, "p.json"
    )


INVENTORY = """\
devices:
  - id: SA-1
    profile: generic-smoke-alarm
    location: {site: Block 3}
  - id: SA-2
    profile: generic-smoke-alrm
    location: {site: Block 3}
  - id: EP-1
    profile: ebike-charging-pile-10
    location: {site: Shed}
    modbus:
      unit: 3
      bus: shed-lin-1
"""


def test_inventory_errors_name_the_devices_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(INVENTORY)
    inventory = load_yaml(path, Inventory)
    with pytest.raises(ConfigError) as err:
        bind(inventory, load_profiles([BUILTIN_PROFILES]), str(path), frozenset({"shed-line-1"}))
    assert err.value.problems == [
        "6: devices.1.profile: unknown profile 'generic-smoke-alrm' for device 'SA-2'; "
        "did you mean 'generic-smoke-alarm'?",
        "13: devices.2.modbus.bus: unknown bus 'shed-lin-1' for device 'EP-1'; known: ['shed-line-1']",
    ]
    # Merged with devices from the gateway config, each still points at its own line in the file.
    merged = Inventory.model_validate(
        {"devices": [inventory.devices[0].model_copy(update={"id": "X"}), *inventory.devices]}
    )
    with pytest.raises(ConfigError) as err:
        bind(merged, load_profiles([BUILTIN_PROFILES]), str(path), frozenset({"shed-line-1"}))
    assert err.value.problems[0].startswith("6: devices.1.profile:")


def test_a_sample_reports_absent_points_and_the_device_time() -> None:
    profile = load_profiles([BUILTIN_PROFILES])["generic-smoke-alarm"]
    result = try_sample(profile, b'{"ts": 1700000000500, "state": {"smoke": false, "tamper": false}}', 5.0)
    assert [r.point for r in result.readings] == ["smoke", "tamper"]
    assert result.absent == ["low_battery", "battery", "self_test", "fault", "self_test_failed", "message", "rssi"]
    assert result.device_time == 1_700_000_000.5
    pile = load_profiles([BUILTIN_PROFILES])["ebike-charging-pile-10"]
    dump = b'{"holding": {"0x10": [2281, 96, 220, 0, 13, -12, 3, 1]}}'  # hex address, a signed temperature
    result = try_sample(pile, dump, 5.0)
    values = {r.point: r.value for r in result.readings}
    assert values["port1.voltage"] == pytest.approx(228.1)
    assert values["port1.temperature"] == pytest.approx(-1.2)
    assert "port2.voltage" in result.absent
    assert "total_power" in result.absent
