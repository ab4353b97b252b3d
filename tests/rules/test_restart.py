"""Restarts on a fake clock: the engine's committed changes, through JSON as the store keeps them, give
a new engine that continues every incident under its event_id (docs/rules.md, "Restarts")."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from gridedge.edge.alert import Alert
from gridedge.edge.clock import FakeClock
from gridedge.edge.reading import Reading
from gridedge.rules.engine import RuleEngine
from gridedge.rules.hygiene import SilenceRefusedError
from gridedge.rules.model import RulePack, Silence
from tests.rules.helpers import T0, pack

SMOKE = (
    "id: smoke\nmatch: {role: smoke}\ncondition: value == True\nseverity: critical\ncategory: fire_safety.smoke_alarm"
)
HOT = "id: hot\nmatch: {role: temperature}\ncondition: value > 60"
LONG = "id: long\nmatch: {role: charging}\ncondition: value == True\nfor_s: 100"
OFFLINE = "id: offline\nkind: absence\ncategory: device.offline\nseverity: minor"
HEATING = "id: heating\nmatch: {role: temperature}\ncondition: value > 50\npublish: false"
FIRE = (
    "id: fire\nkind: correlation\nall_of: [smoke, heating]\nseverity: critical\n"
    "category: fire_safety.ebike_charging_fire"
)
ARCS = (
    "id: arcs\nmatch: {role: arc_fault}\ncondition: value == True\nwindow_s: 600\noccurrences: 3\n"
    "category: fire_safety.ebike_charging_arc_fault"
)
RISING = "id: rising\nmatch: {role: temperature}\ncondition: count >= 2 and rate > 0.5\nwindow_s: 120"


class Gateway:
    """An engine and its store: what `changes()` handed over is 'committed' after every step."""

    def __init__(self, rule_pack: RulePack, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock(T0)
        self.store: dict[str, str] = {}
        self._ids = itertools.count(1)
        self.pack = rule_pack
        self.engine = self._engine(rule_pack)

    def _engine(self, rule_pack: RulePack) -> RuleEngine:
        eng = RuleEngine(rule_pack, self.clock, event_id=lambda: f"event-{next(self._ids):04d}")
        for d in ("SA-1", "SA-2", "P-1"):
            eng.register_device(d, {"site": "Shed 1"}, 150.0, ["smoke", "temperature", "charging", "arc_fault"])
        return eng

    def commit(self) -> None:
        for key, record in self.engine.changes().items():
            if record is None:
                self.store.pop(key, None)
            else:
                self.store[key] = json.dumps(record)

    def read(self, device: str, role: str, value: object, point: str | None = None) -> list[Alert]:
        out = self.engine.process([Reading(device, point or role, value, self.clock.t, None, role)])  # type: ignore[arg-type]
        self.commit()
        return out

    def tick(self) -> list[Alert]:
        out = self.engine.tick()
        self.commit()
        return out

    def restart(self, down_s: float = 5.0, rule_pack: RulePack | None = None) -> list[Alert]:
        """The process dies (uncommitted changes are lost) and starts again `down_s` later."""
        self.engine.changes()  # what was not committed dies with the process
        self.clock.advance(down_s)
        self.engine = self._engine(rule_pack or self.pack)
        out = self.engine.restore({k: json.loads(v) for k, v in self.store.items()})
        self.commit()
        return out


def seen(alerts: list[Alert]) -> list[tuple[str, str, int]]:
    return [(a.event_id, a.status.value, a.seq) for a in alerts]


def test_an_incident_still_there_after_a_restart_raises_nothing_new_and_resolves_under_its_id() -> None:
    gw = Gateway(pack(SMOKE))
    (fired,) = gw.read("SA-1", "smoke", True)
    assert gw.restart() == []
    assert [a.event_id for a in gw.engine.firing()] == [fired.event_id]
    gw.clock.advance(1)
    assert gw.read("SA-1", "smoke", True) == []  # still there: nothing new, no second case
    gw.clock.advance(1)
    assert seen(gw.read("SA-1", "smoke", False)) == [(fired.event_id, "resolved", 2)]
    assert not gw.store


def test_an_incident_whose_condition_ended_while_down_resolves_on_the_first_reading() -> None:
    gw = Gateway(pack(HOT))
    (fired,) = gw.read("P-1", "temperature", 70.0, "port1.temperature")
    gw.restart(down_s=600)
    assert seen(gw.read("P-1", "temperature", 20.0, "port1.temperature")) == [(fired.event_id, "resolved", 2)]


def test_updates_continue_the_sequence_after_a_restart() -> None:
    gw = Gateway(pack("id: battery\nmatch: {role: smoke}\ncondition: value == True\ngroup_by: site"))
    (fired,) = gw.read("SA-1", "smoke", True)
    gw.restart()
    assert seen(gw.read("SA-2", "smoke", True)) == [(fired.event_id, "update", 2)]
    gw.restart()
    gw.read("SA-1", "smoke", False)
    assert seen(gw.read("SA-2", "smoke", False)) == [(fired.event_id, "resolved", 3)]


def test_a_pending_timer_keeps_running_across_a_restart() -> None:
    gw = Gateway(pack(LONG))
    assert gw.read("P-1", "charging", True, "port1.charging") == []
    gw.clock.advance(50)
    gw.restart(down_s=10)
    gw.clock.advance(39)
    assert gw.tick() == []
    gw.clock.advance(1)
    (fired,) = gw.tick()  # 100 s after the condition began, not 100 s after the restart
    assert (fired.rule_id, fired.started_at) == ("long", T0)


def test_a_timer_served_while_down_fires_only_if_the_first_reading_still_holds() -> None:
    gw = Gateway(pack(LONG))
    gw.read("P-1", "charging", True, "port1.charging")
    gw.read("P-1", "charging", True, "port2.charging")
    gw.restart(down_s=300)
    assert gw.tick() == []  # the gateway was deaf: it does not know whether port 1 still charges
    assert gw.read("P-1", "charging", False, "port1.charging") == []
    assert [a.dedup_key for a in gw.read("P-1", "charging", True, "port2.charging")] == ["long:P-1:port2.charging"]


def test_keep_firing_runs_on_across_a_restart() -> None:
    gw = Gateway(pack(SMOKE + "\nkeep_firing_s: 60"))
    (fired,) = gw.read("SA-1", "smoke", True)
    gw.clock.advance(1)
    assert gw.read("SA-1", "smoke", False) == []
    gw.restart(down_s=30)
    assert gw.tick() == []
    gw.clock.advance(31)
    assert seen(gw.tick()) == [(fired.event_id, "resolved", 2)]


def test_an_absence_incident_stays_open_and_the_next_reading_resolves_it() -> None:
    gw = Gateway(pack(OFFLINE))
    gw.clock.advance(151)
    offline = {a.device_id: a for a in gw.tick()}
    assert set(offline) == {"SA-1", "SA-2", "P-1"}
    gw.restart(down_s=30)
    gw.clock.advance(200)
    assert gw.tick() == []  # no second offline event for the same silence
    assert seen(gw.read("SA-1", "smoke", False)) == [(offline["SA-1"].event_id, "resolved", 2)]


def test_absence_deadlines_survive_a_restart_but_every_device_gets_a_chance_to_be_heard() -> None:
    gw = Gateway(pack(OFFLINE))
    gw.clock.advance(100)
    gw.read("SA-1", "smoke", False)  # heard; SA-2 and P-1 stay silent
    gw.clock.advance(10)
    gw.tick()  # the coalesced save of last-heard times
    gw.restart(down_s=20)  # 130 s after start: SA-2 and P-1 were due at 150 s
    gw.clock.advance(70)  # 200 s: their saved deadline is past, but the restart gave them 75 s to speak
    assert gw.tick() == []
    gw.clock.advance(6)
    assert sorted(a.device_id for a in gw.tick()) == ["P-1", "SA-2"]
    gw.clock.advance(45)  # SA-1 was heard at 100 s, due at 250 s, like before the restart
    assert [a.device_id for a in gw.tick()] == ["SA-1"]


def test_a_correlation_survives_a_restart_and_ends_when_a_member_clears() -> None:
    gw = Gateway(pack(SMOKE, HEATING, FIRE))
    gw.read("P-1", "temperature", 70.0, "port1.temperature")
    fire = next(a for a in gw.read("SA-1", "smoke", True) if a.rule_id == "fire")
    gw.restart()
    assert gw.read("P-1", "temperature", 71.0, "port1.temperature") == []
    out = gw.read("P-1", "temperature", 20.0, "port1.temperature")
    assert (fire.event_id, "resolved", 2) in seen(out)


def test_occurrence_counters_survive_a_restart() -> None:
    gw = Gateway(pack(ARCS))
    for _ in range(2):
        gw.read("P-1", "arc_fault", True, "arc")
        gw.clock.advance(1)
        gw.read("P-1", "arc_fault", False, "arc")
        gw.clock.advance(1)
    gw.restart()
    assert [a.rule_id for a in gw.read("P-1", "arc_fault", True, "arc")] == ["arcs"]  # the third within 600 s


def test_the_window_of_a_holding_track_survives_a_restart_shorter_than_the_window() -> None:
    gw = Gateway(pack(RISING))
    gw.read("P-1", "temperature", 30.0, "port1.temperature")
    gw.clock.advance(10)
    (fired,) = gw.read("P-1", "temperature", 40.0, "port1.temperature")
    gw.clock.advance(10)
    gw.tick()  # the coalesced save of the window
    gw.restart(down_s=5)
    gw.clock.advance(5)
    # 30 degC 30 s ago is still in the window: rate is 0.5 a second and more, so it still holds
    assert gw.read("P-1", "temperature", 50.0, "port1.temperature") == []
    gw.clock.advance(10)
    assert seen(gw.read("P-1", "temperature", 50.0, "port1.temperature")) == [(fired.event_id, "resolved", 2)]


def test_a_rule_removed_between_runs_resolves_its_incidents() -> None:
    gw = Gateway(pack(SMOKE, HOT))
    smoke = gw.read("SA-1", "smoke", True)[0]
    hot = gw.read("P-1", "temperature", 70.0, "port1.temperature")[0]
    out = gw.restart(rule_pack=pack(HOT))
    assert seen(out) == [(smoke.event_id, "resolved", 2)]
    assert "rule was removed" in out[0].description
    assert [a.event_id for a in gw.engine.firing()] == [hot.event_id]
    assert not [k for k in gw.store if "smoke" in k]


def test_a_rule_changed_between_runs_keeps_its_incidents_judged_by_the_new_rule() -> None:
    gw = Gateway(pack(HOT))
    (hot,) = gw.read("P-1", "temperature", 70.0, "port1.temperature")
    assert gw.restart(rule_pack=pack(HOT.replace("value > 60", "value > 65"))) == []
    assert [a.event_id for a in gw.engine.firing()] == [hot.event_id]
    gw.clock.advance(1)
    assert seen(gw.read("P-1", "temperature", 64.0, "port1.temperature")) == [(hot.event_id, "resolved", 2)]


def test_uncommitted_decisions_are_not_restored() -> None:
    gw = Gateway(pack(SMOKE))
    gw.engine.process([Reading("SA-1", "smoke", True, gw.clock.t, None, "smoke")])  # decided, never committed
    assert gw.restart() == []
    assert gw.engine.firing() == []
    (fired,) = gw.read("SA-1", "smoke", True)  # decided again, as the unacknowledged message comes again
    assert fired.seq == 1


def until(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def test_a_silence_survives_a_restart_and_ends_on_time() -> None:
    gw = Gateway(pack(SMOKE))
    active = gw.engine.silence(Silence(device="SA-1", ends_at=until(gw.clock.t + 600), reason="works", author="li"))
    gw.commit()
    assert gw.read("SA-1", "smoke", True) == []
    gw.restart(down_s=60)
    assert [(s.id, s.author, s.reason) for s in gw.engine.silences()] == [(active.id, "li", "works")]
    assert gw.engine.held() == {"silenced": 1}
    gw.clock.advance(539)
    assert gw.tick() == []
    gw.clock.advance(1)
    (shown,) = gw.tick()
    assert (shown.device_id, shown.status.value, shown.seq) == ("SA-1", "firing", 1)
    assert gw.engine.silences() == []
    assert not [k for k in gw.store if k.startswith("s/")]


def test_a_silence_expired_by_an_operator_shows_what_it_held() -> None:
    gw = Gateway(pack(SMOKE))
    active = gw.engine.silence(Silence(device="SA-1", ends_at=until(gw.clock.t + 600), reason="works", author="li"))
    gw.read("SA-1", "smoke", True)
    (shown,) = gw.engine.expire_silence(active.id)
    assert shown.status.value == "firing"
    with pytest.raises(LookupError):
        gw.engine.expire_silence(active.id)


@pytest.mark.parametrize(
    ("silence", "message"),
    [
        (Silence(device="SA-1", ends_at=until(T0 + 8 * 86400), reason="works", author="li"), "at most 604800 s"),
        (Silence(device="SA-1", ends_at=until(T0 - 1), reason="works", author="li"), "not in the future"),
        (Silence(device="SA-1", ends_at=until(T0 + 60), reason="works"), "needs an author"),
        (Silence(device="SA-1", ends_at=until(T0 + 60), author="li"), "needs a reason"),
    ],
)
def test_silences_an_operator_may_not_set_are_refused_with_the_reason(silence: Silence, message: str) -> None:
    gw = Gateway(pack(SMOKE))
    with pytest.raises(SilenceRefusedError, match=message):
        gw.engine.silence(silence)
    assert gw.engine.silences() == []


def test_what_a_restart_cannot_use_is_forgotten() -> None:
    gw = Gateway(pack(SMOKE, HOT))
    gw.clock.advance(10)
    gw.tick()  # saves when each device was last heard
    gw.read("P-1", "temperature", 70.0, "port1.temperature")
    gw.store["d/SA-9"] = json.dumps({"last_seen": gw.clock.t, "seen": {}})  # a device no longer in the inventory
    gw.restart(rule_pack=pack(SMOKE))  # the rule `hot` removed
    assert "d/SA-9" not in gw.store
    assert not [k for k in gw.store if "hot" in k]
