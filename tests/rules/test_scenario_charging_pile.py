"""Scenario: the charging-pile simulator's physics -> its registers -> the built-in profile's decode ->
the built-in rule packs, on a fake clock. Checks exactly which events a shed fire raises.

(The agent's Modbus wiring is a separate part; this drives the same simulator, decoder and rules
in-process, where an hour of heating passes in milliseconds.)
"""

from __future__ import annotations

from gridedge.devices.profile import BUILTIN_PROFILES, Table, load_profiles
from gridedge.devices.registers import decode_registers, dump_answers, plan_reads
from gridedge.edge.alert import Alert
from gridedge.edge.clock import FakeClock
from gridedge.rules.engine import RuleEngine
from gridedge.rules.model import BUILTIN_PACKS, load_rule_pack, merge_packs
from gridedge.simulators.charging_pile import ChargingPile, Fault

POLL_S = 5.0
PACKS = merge_packs([load_rule_pack(p) for p in sorted(BUILTIN_PACKS.glob("*.yaml"))])


class Shed:
    def __init__(self) -> None:
        profile = load_profiles([BUILTIN_PROFILES])["ebike-charging-pile-10"]
        self.plan = plan_reads(profile)
        self.clock = FakeClock(1_800_000_000.0)
        self.engine = RuleEngine(PACKS, self.clock)
        roles = [p.role for p in profile.all_points() if p.role]
        self.engine.register_device("P-1", {"site": "No. 3 e-bike shed"}, 30.0, roles)
        self.pile = ChargingPile(seed=3)
        for port in self.pile.ports[:4]:
            port.plug_in(soc=0.3)
        self.events: list[Alert] = []

    def run(self, seconds: float) -> None:
        for _ in range(int(seconds / POLL_S)):
            self.pile.advance(POLL_S)
            self.clock.advance(POLL_S)
            words = dict(enumerate(self.pile.registers()))
            decoded = decode_registers(self.plan, dump_answers(self.plan, {Table.HOLDING: words}), "P-1", self.clock.t)
            assert not decoded.problems
            self.events += self.engine.process(decoded.readings)
            self.events += self.engine.tick()

    def summary(self) -> list[tuple[str, str, str, int, str]]:
        return [(a.category, a.severity.value, a.status.value, a.seq, a.dedup_key) for a in self.events]


def test_healthy_charging_raises_nothing() -> None:
    shed = Shed()
    shed.run(1800)
    assert shed.events == []


def test_a_hot_port_then_smoke_is_one_charging_fire() -> None:
    shed = Shed()
    shed.run(60)
    shed.pile.ports[2].faults.add(Fault.OVER_TEMPERATURE)  # port 3's contact fails
    shed.run(1200)
    hot = "charging_overtemperature:P-1:port3.temperature"
    assert shed.summary() == [
        ("fire_safety.ebike_charging_overheat", "major", "firing", 1, hot),
        ("fire_safety.ebike_charging_overheat", "critical", "update", 2, hot),  # still hot 10 min later
    ]
    shed.pile.smoke = True  # the pile's own smoke input
    shed.run(10)
    assert shed.summary()[2:] == [
        ("fire_safety.ebike_charging_fire", "critical", "firing", 1, "charging_fire:No. 3 e-bike shed"),
        ("fire_safety.ebike_charging_overheat", "critical", "resolved", 3, hot),  # superseded by the fire
    ]
    assert {a.dedup_key for a in shed.engine.firing()} == {"charging_fire:No. 3 e-bike shed"}
