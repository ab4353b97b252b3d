"""The library of real device models: each profile cites its source document, comes with a sample from
that document (or encoded from its register table), and decodes the sample to the values the document gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gridedge.devices.binding import compile_any
from gridedge.devices.decode import CompiledProfile, decode_json
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.devices.registers import ModbusPlan, decode_registers, dump_answers, parse_dump
from gridedge.edge.reading import Quality

SAMPLES = Path(__file__).parent / "samples"
PROFILES = load_profiles([BUILTIN_PROFILES])
RECEIVED = 1_700_000_000.0

# profile id -> the values its source document gives for the sample (floats compared to 1e-4 relative)
EXPECTED: dict[str, dict[str, object]] = {
    "tg563a-smoke-detector": {  # codec README: bytes [1, 126, 21, 0, 1] on fPort 1
        "message_type": "smoke_alarm",
        "temperature": 21.0,
        "removed": True,  # mounted: 0
        "obstacle": False,
        "air_inlet_covered": False,
        "smoke": True,
        "low_battery": False,
        "failures": 0,
        "fault": False,
        "rssi": -97,
    },
    "milesight-gs524n": {  # README sample 221E64001C40
        "event": "test_normal_battery",
        "code": 14,
        "smoke": False,
        "fault": False,
        "removed": False,
        "low_battery": False,
        "self_test": True,
        "battery": 100.0,
        "concentration": 0.0,
        "temperature": 28.0,
        "rssi": -61,
    },
    "browan-tbms100": {  # codec example "Occupied"
        "occupied": True,
        "battery_code": 11,
        "battery_voltage": 3.6,
        "temperature": 20.0,
        "since_last_motion": 4,
        "motion_count": 96476,
    },
    "browan-tbdw100": {  # codec example "Door closed"
        "open": False,
        "battery_code": 11,
        "battery_voltage": 3.6,
        "temperature": 21.0,
        "since_last_event": 0,
        "event_count": 14986,
    },
    "eastron-sdm120": {
        "voltage": 230.1,
        "current": 5.2,
        "power": 1150.0,
        "apparent_power": 1196.5,
        "power_factor": 0.96,
        "frequency": 50.0,
        "import_energy": 1234.5,
        "export_energy": 0.0,
        "total_energy": 1234.5,
    },
    "eastron-sdm630": {
        "l1.voltage": 229.8,
        "l2.voltage": 231.2,
        "l3.voltage": 230.5,
        "l1.current": 10.5,
        "l2.current": 0.0,
        "l3.current": 3.25,
        "l1.power": 2400.0,
        "l2.power": 0.0,
        "l3.power": 745.0,
        "total_power": 3145.0,
        "frequency": 49.98,
        "import_energy": 5678.9,
        "export_energy": 12.3,
    },
    "hiking-dds238-2": {
        "total_energy": 123.45,
        "export_energy": 0.0,
        "import_energy": 123.45,
        "voltage": 230.1,
        "current": 4.52,
        "power": -1040.0,  # int16: exporting
        "reactive_power": 12.0,
        "power_factor": 0.99,
        "frequency": 50.01,
    },
    "alfen-ng9xx-socket": {
        "voltage": 230.1,
        "current": 10.5,
        "frequency": 50.0,
        "power": 2400.0,
        "total_power": 2400.0,
        "energy": 4567.8,  # 4,567,800 Wh delivered, reported in kWh: the unit the charging rules use
        "availability": "operative",
    },
}
DEVICE_TIME = {
    "tg563a-smoke-detector": 1743778800.123456,  # received_at 2025-04-04T15:00:00.123456789Z
    "milesight-gs524n": 1714552200.5,
    "browan-tbms100": 1732413600.0,
    "browan-tbdw100": 1732384800.0,  # +08:00
}


def test_the_library_has_eight_real_models_each_citing_its_source() -> None:
    assert len(EXPECTED) >= 8
    for pid in EXPECTED:
        path = next(p for p in BUILTIN_PROFILES.iterdir() if yaml.safe_load(p.read_text())["id"] == pid)
        assert "# Source:" in path.read_text(), f"{path.name} cites no source document"


@pytest.mark.parametrize("profile_id", sorted(EXPECTED))
def test_a_sample_decodes_to_the_documented_values(profile_id: str) -> None:
    compiled = compile_any(PROFILES[profile_id])
    sample = (SAMPLES / f"{profile_id}.json").read_bytes()
    if isinstance(compiled, CompiledProfile):
        decoded = decode_json(sample, compiled, "D-1", RECEIVED)
        assert decoded.device_time == pytest.approx(DEVICE_TIME[profile_id])
    else:
        assert isinstance(compiled, ModbusPlan)
        decoded = decode_registers(compiled, dump_answers(compiled, parse_dump(json.loads(sample))), "D-1", RECEIVED)
    assert decoded.problems == []
    got = {r.point: r.value for r in decoded.readings}
    assert all(r.quality is Quality.GOOD for r in decoded.readings)
    expected = EXPECTED[profile_id]
    assert set(got) == set(expected)
    for point, value in expected.items():
        if isinstance(value, float):
            assert got[point] == pytest.approx(value, rel=1e-4), point
        else:
            assert got[point] == value, point
            assert type(got[point]) is type(value), point


def test_the_malfunction_bit_of_the_lorawan_smoke_detector_is_a_device_fault() -> None:
    """Byte 4 bit 2 (smoke chamber failure): the computed `fault` point carries the device_fault role."""
    compiled = compile_any(PROFILES["tg563a-smoke-detector"])
    assert isinstance(compiled, CompiledProfile)
    doc = json.loads((SAMPLES / "tg563a-smoke-detector.json").read_text())
    doc["uplink_message"]["frm_payload"] = "A34VAQQ="  # 03 7E 15 01 04: chamber failure event, mounted
    readings = {r.point: r for r in decode_json(json.dumps(doc).encode(), compiled, "D-1", RECEIVED).readings}
    assert readings["message_type"].value == "smoke_chamber_failure"
    assert (readings["fault"].value, readings["fault"].role) == (True, "device_fault")
    assert (readings["smoke"].value, readings["removed"].value) == (False, False)


def test_energy_in_wh_reaches_the_rules_in_kwh() -> None:
    point = next(p for p in PROFILES["alfen-ng9xx-socket"].all_points() if p.name == "energy")
    assert (point.unit, point.role, point.scale) == ("kWh", "charging_pile.energy", 0.001)
