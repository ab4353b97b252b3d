"""A device's silence while its link (the southbound broker) is down is the link's, not the device's."""

from __future__ import annotations

from gridedge.edge.clock import FakeClock
from gridedge.edge.event import EventStatus
from gridedge.edge.reading import Reading
from gridedge.rules.engine import RuleEngine
from gridedge.rules.model import BUILTIN_PACKS, load_rule_pack


def _engine() -> tuple[RuleEngine, FakeClock]:
    clock = FakeClock()
    engine = RuleEngine(load_rule_pack(BUILTIN_PACKS / "smoke_alarm.yaml"), clock)
    for device in ("SA-1", "SA-2"):
        engine.register_device(device, {"site": "Shed 3"}, offline_after_s=150)
    return engine, clock


def _heartbeat(device: str, ts: float) -> Reading:
    return Reading(device, "message", "heartbeat", ts, None, "heartbeat")


def test_no_device_goes_offline_while_its_link_is_down_and_each_has_time_to_speak_after() -> None:
    engine, clock = _engine()
    engine.link_down(["SA-1", "SA-2"])
    clock.advance(1000)  # far past the interval
    assert engine.tick() == []
    engine.link_up(["SA-1", "SA-2"])
    clock.advance(10)
    engine.process([_heartbeat("SA-2", clock.t)])
    clock.advance(65)
    assert engine.tick() == []  # as after a restart: half the 150 s interval from the link's return
    clock.advance(1)
    offline = engine.tick()  # SA-1 really is silent; SA-2 spoke after the link came back
    assert [(a.device_id, a.category, a.status) for a in offline] == [("SA-1", "device.offline", EventStatus.FIRING)]


def test_devices_on_other_links_are_still_judged() -> None:
    engine, clock = _engine()
    engine.link_down(["SA-1"])
    clock.advance(151)
    assert [a.device_id for a in engine.tick()] == ["SA-2"]
    engine.link_up(["SA-2"])  # a link it was never down on changes nothing
    clock.advance(1000)
    assert engine.tick() == []
