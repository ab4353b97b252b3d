"""Correlation across devices at one site, with the built-in packs: one charging-fire event, not three."""

from __future__ import annotations

from gridedge.edge.alert import Alert
from gridedge.edge.event import Severity
from gridedge.edge.reading import Reading
from gridedge.rules.model import BUILTIN_PACKS, load_rule_pack, merge_packs
from tests.rules.helpers import engine

PACKS = merge_packs([load_rule_pack(p) for p in sorted(BUILTIN_PACKS.glob("*.yaml"))])


def _summary(alerts: list[Alert]) -> list[tuple[str, str, int, str]]:
    return [(a.category, a.status.value, a.seq, a.device_id) for a in alerts]


def test_smoke_while_a_port_heats_is_one_critical_fire_that_supersedes_the_lesser_events() -> None:
    eng, clock = engine(PACKS)
    eng.register_device("SA-1", {"site": "Shed 3"}, None)
    eng.register_device("P-1", {"site": "Shed 3"}, None)
    eng.register_device("SA-9", {"site": "Block 9"}, None)

    def port(t: float) -> list[Alert]:
        clock.advance(5)
        return eng.process([Reading("P-1", "port4.temperature", t, clock.t, "degC", "charging_pile.temperature")])

    assert port(45) == []
    assert port(58) == []  # heating (publish: false): no event of its own
    assert port(70) == []  # over 65: pending its 10 s
    clock.advance(10)
    (overheat,) = eng.tick()
    assert overheat.category == "fire_safety.ebike_charging_overheat"
    clock.advance(1)
    fire = eng.process([Reading("SA-1", "smoke", True, clock.t, None, "smoke")])
    assert _summary(fire) == [
        ("fire_safety.ebike_charging_fire", "firing", 1, "SA-1"),
        ("fire_safety.ebike_charging_overheat", "resolved", 2, "P-1"),  # superseded
    ]
    assert fire[0].severity is Severity.CRITICAL
    assert "Superseded by fire_safety.ebike_charging_fire" in fire[1].description
    assert {r.device_id for r in fire[0].readings} == {"SA-1", "P-1"}
    # A smoke alarm elsewhere is an ordinary smoke alarm.
    other = eng.process([Reading("SA-9", "smoke", True, clock.t, None, "smoke")])
    assert _summary(other) == [("fire_safety.smoke_alarm", "firing", 1, "SA-9")]
    assert sorted(a.category for a in eng.firing()) == ["fire_safety.ebike_charging_fire", "fire_safety.smoke_alarm"]

    # Smoke clears: the fire keeps firing 60 s (keep_firing_s), then resolves; the port is still hot,
    # so its over-temperature shows again as a new event.
    clock.advance(1)
    assert eng.process([Reading("SA-1", "smoke", False, clock.t, None, "smoke")]) == []
    clock.advance(60)
    assert _summary(eng.tick()) == [
        ("fire_safety.ebike_charging_fire", "resolved", 2, "SA-1"),
        ("fire_safety.ebike_charging_overheat", "firing", 1, "P-1"),
    ]


def test_smoke_with_cool_ports_is_a_smoke_alarm_only() -> None:
    eng, clock = engine(PACKS)
    eng.register_device("SA-1", {"site": "Shed 3"}, None)
    eng.register_device("P-1", {"site": "Shed 3"}, None)
    eng.process([Reading("P-1", "port4.temperature", 30.0, clock.t, "degC", "charging_pile.temperature")])
    clock.advance(1)
    out = eng.process([Reading("SA-1", "smoke", True, clock.t, None, "smoke")])
    assert _summary(out) == [("fire_safety.smoke_alarm", "firing", 1, "SA-1")]
