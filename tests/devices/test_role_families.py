"""Roles scoped to a device family: a thermometer's `temperature` never feeds the charging rules, the
same value from a charging pile's port does, and a unit the rules do not use is converted on the way."""

from __future__ import annotations

import json
from typing import Any

from gridedge.devices.decode import compile_profile, decode_json
from gridedge.devices.profile import Profile
from gridedge.edge.clock import FakeClock
from gridedge.rules.engine import RuleEngine
from gridedge.rules.model import BUILTIN_PACKS, load_rule_pack, merge_packs

PACKS = merge_packs([load_rule_pack(p) for p in sorted(BUILTIN_PACKS.glob("*.yaml"))])


def _profile(family: str | None, unit: str = "degC") -> Profile:
    doc: dict[str, Any] = {
        "id": "t",
        "vendor": "v",
        "model": "m",
        "transport": {"type": "mqtt", "topic": "t/{key}"},
        "points": [{"name": "port1.temperature", "path": "t", "type": "float", "unit": unit, "role": "temperature"}],
    }
    if family is not None:
        doc["family"] = family
    return Profile.model_validate(doc)


def _overheat_events(profile: Profile, value: float) -> list[str]:
    clock = FakeClock(1_800_000_000.0)
    engine = RuleEngine(PACKS, clock)
    compiled = compile_profile(profile)
    fired = []
    for _ in range(4):  # 15 s of a port at this temperature: past the rule's 10 s
        readings = decode_json(json.dumps({"t": value}).encode(), compiled, "D-1", clock.now()).readings
        fired += engine.process(readings) + engine.tick()
        clock.advance(5)
    return [a.category for a in fired]


def test_an_ambient_thermometer_never_feeds_the_charging_rules() -> None:
    assert _overheat_events(_profile(None), 80.0) == []
    assert _overheat_events(_profile("environment"), 80.0) == []
    assert _overheat_events(_profile("charging_pile"), 80.0) == ["fire_safety.ebike_charging_overheat"]


def test_a_port_in_fahrenheit_is_compared_in_celsius() -> None:
    profile = _profile("charging_pile", unit="degF")
    reading = decode_json(b'{"t": 158}', compile_profile(profile), "D-1", 0.0).readings[0]
    assert (reading.value, reading.unit, reading.role) == (70.0, "degC", "charging_pile.temperature")
    assert _overheat_events(profile, 158.0) == ["fire_safety.ebike_charging_overheat"]  # 70 degC
    assert _overheat_events(profile, 140.0) == []  # 60 degC
