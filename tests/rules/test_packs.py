"""The built-in packs: each rule raises its event from the input it is written for, and nothing else."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gridedge.edge.reading import Reading, Value
from gridedge.rules.compiled import compile_pack
from gridedge.rules.model import BUILTIN_PACKS, load_rule_pack, merge_packs
from tests.rules.helpers import engine

PACKS = merge_packs([load_rule_pack(p) for p in sorted(BUILTIN_PACKS.glob("*.yaml"))])
MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()

Steps = list[tuple[float, Value | None]]
CASES: dict[str, tuple[str, str, Steps, list[tuple[str, str]]]] = {
    # rule: (role, point, steps, [(category, severity)] of every event that fires)
    "smoke_alarm": ("smoke", "smoke", [(0, True)], [("fire_safety.smoke_alarm", "critical")]),
    "smoke_alarm_tamper": ("tamper", "tamper", [(0, True)], [("device.tamper", "minor")]),
    "smoke_alarm_low_battery": ("low_battery", "low_battery", [(0, True)], [("device.low_battery", "info")]),
    "charging_overcurrent": (
        "charging_pile.current",
        "port2.current",
        [(0, 3.0), (5, 4.0), (9, 9.5)],  # avg 5.5 over 10 s
        [("fire_safety.ebike_charging_overcurrent", "major")],
    ),
    "charging_overtemperature": (
        "charging_pile.temperature",
        "port2.temperature",
        [(0, 66.0), (10, None)],
        [("fire_safety.ebike_charging_overheat", "major")],
    ),
    "charging_arc_fault": (
        "charging_pile.arc_fault",
        "arc_fault",
        [(0, True)],
        [("fire_safety.ebike_charging_arc_fault", "major")],
    ),
    "charging_arc_fault_repeated": (
        "charging_pile.arc_fault",
        "arc_fault",
        [(0, True), (60, False), (120, True), (180, False), (240, True)],
        # twice the single fault, then the third within ten minutes is critical and holds back the lesser one
        [("fire_safety.ebike_charging_arc_fault", s) for s in ("major", "major", "critical")],
    ),
    "charging_too_long": (
        "charging_pile.charging",
        "port1.charging",
        [(0, True), (28799, None), (28800, None)],
        [("fire_safety.ebike_charging_overtime", "minor")],
    ),
    "charging_beyond_full": (
        "charging_pile.power",
        "port1.power",
        [(0, 180.0), (100, 8.0), (3700, None)],
        [("fire_safety.ebike_charging_overtime", "minor")],
    ),
    "charging_port_stuck_on": (
        "charging_pile.relay",
        "port1.relay",
        [(0, True), (43200, None)],
        [("device.port_stuck_on", "minor")],
    ),
    "charging_port_fault": (
        "charging_pile.port_state",
        "port3.state",
        [(0, "charging"), (5, "fault"), (305, None)],
        [("device.fault", "minor")],
    ),
    "device_fault": ("device_fault", "fault", [(0, True)], [("device.fault", "major")]),
    "device_self_test_failed": ("self_test_failed", "self_test_failed", [(0, True)], [("device.fault", "major")]),
    "outside_shop_operation": (
        "dwell",
        "dwell",
        [(0, 20.0), (60, 0.0), (400, 300.0)],
        [("street_order.outside_shop_operation", "minor")],
    ),
}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_builtin_rule_fires_on_its_input(rule_id: str) -> None:
    role, point, steps, expected = CASES[rule_id]
    eng, clock = engine(PACKS, start=MORNING)
    eng.register_device("D-1", {"site": "Shed 3"}, None)
    start, fired = clock.t, []
    for t, value in steps:
        clock.t = start + t
        if value is not None:
            fired += eng.process([Reading("D-1", point, value, clock.t, None, role)])
        fired += eng.tick()
    firing = [a for a in fired if a.status.value == "firing"]
    assert [(a.category, a.severity.value) for a in firing] == expected
    assert fired[-1].rule_id == rule_id


def test_every_builtin_rule_has_a_case_or_a_test_of_its_own() -> None:
    covered = {*CASES, "device_offline", "charging_fire", "charging_port_heating"}
    assert {cr.rule.id for cr in compile_pack(PACKS)} == covered


def test_goods_outside_at_night_are_not_a_case() -> None:
    night = datetime(2026, 11, 24, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    eng, clock = engine(PACKS, start=night)
    assert eng.process([Reading("IR-1", "dwell", 900.0, clock.t, "s", "dwell")]) == []
