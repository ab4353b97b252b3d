"""Hot reload: unchanged rules keep their incidents (same event_id, no duplicate revision)."""

from __future__ import annotations

from gridedge.edge.reading import Reading
from tests.rules.helpers import engine, pack

HOT = "id: hot\nmatch: {role: temperature}\ncondition: value > 60"
SMOKE = "id: smoke\nmatch: {role: smoke}\ncondition: value == True\ncategory: fire_safety.smoke_alarm"
PENDING = "id: long\nmatch: {role: charging}\ncondition: value == True\nfor_s: 100"


def test_reloading_unchanged_rules_keeps_firing_incidents_and_pending_timers() -> None:
    eng, clock = engine(pack(HOT, SMOKE, PENDING))
    (fired,) = eng.process([Reading("P-1", "port1.temperature", 70.0, clock.t, None, "temperature")])
    eng.process([Reading("P-1", "port1.charging", True, clock.t, None, "charging")])
    clock.advance(50)
    assert eng.reload(pack(HOT, SMOKE, PENDING)) == []
    assert eng.process([Reading("P-1", "port1.temperature", 71.0, clock.t, None, "temperature")]) == []
    clock.advance(50)
    assert [a.rule_id for a in eng.tick()] == ["long"]  # the pending timer kept running across the reload
    (resolved,) = eng.process([Reading("P-1", "port1.temperature", 20.0, clock.t, None, "temperature")])
    assert (resolved.event_id, resolved.seq) == (fired.event_id, 2)


def test_a_removed_rule_resolves_its_incidents_and_a_changed_one_keeps_them() -> None:
    eng, clock = engine(pack(HOT, SMOKE))
    hot, smoke = (
        eng.process([Reading("P-1", "port1.temperature", 70.0, clock.t, None, "temperature")])[0],
        eng.process([Reading("SA-1", "smoke", True, clock.t, None, "smoke")])[0],
    )
    changed = HOT.replace("value > 60", "value > 65")
    (gone,) = eng.reload(pack(changed))
    assert (gone.event_id, gone.status.value) == (smoke.event_id, "resolved")
    assert [a.event_id for a in eng.firing()] == [hot.event_id]
    clock.advance(1)
    (resolved,) = eng.process([Reading("P-1", "port1.temperature", 64.0, clock.t, None, "temperature")])
    assert (resolved.event_id, resolved.seq) == (hot.event_id, 2)  # judged by the new threshold


def test_a_steady_value_is_judged_again_by_a_changed_rule() -> None:
    """Repeated values are skipped by value-only rules; a reload must not let the skip hide a new threshold."""
    eng, clock = engine(pack(HOT))
    temperature = [Reading("P-1", "port1.temperature", 55.0, clock.t + i, None, "temperature") for i in range(3)]
    assert eng.process(temperature[:2]) == []
    eng.reload(pack(HOT.replace("value > 60", "value > 50")))
    (fired,) = eng.process(temperature[2:])
    assert fired.status.value == "firing"


def test_repeated_values_keep_an_open_incident_open_and_a_change_resolves_it() -> None:
    eng, clock = engine(pack(HOT))
    hot = [Reading("P-1", "port1.temperature", 70.0, clock.t + i, None, "temperature") for i in range(50)]
    (fired,) = eng.process(hot)
    (resolved,) = eng.process([Reading("P-1", "port1.temperature", 20.0, clock.t + 60, None, "temperature")])
    assert (resolved.event_id, resolved.seq, resolved.status.value) == (fired.event_id, 2, "resolved")
    assert [r.ts for r in resolved.readings][-2:] == [clock.t + 49, clock.t + 60]  # repeats are evidence too
