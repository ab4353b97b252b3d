"""Alert hygiene: dedupe, grouping, silences with an end time, inhibition and the flood cap."""

from __future__ import annotations

from datetime import UTC, datetime

from gridedge.edge.event import EventStatus
from gridedge.edge.reading import Reading
from gridedge.rules.model import Silence
from tests.rules.helpers import engine, pack

SMOKE = (
    "id: smoke\nmatch: {role: smoke}\ncondition: value == True\nseverity: critical\ncategory: fire_safety.smoke_alarm"
)


def smoke(device: str, value: bool, ts: float) -> Reading:
    return Reading(device, "smoke", value, ts, None, "smoke")


def until(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def test_dedupe_one_incident_per_key_however_often_it_is_reported() -> None:
    eng, clock = engine(pack(SMOKE))
    out = eng.process([smoke("SA-1", True, clock.t + i) for i in range(20)])
    assert [(a.dedup_key, a.seq) for a in out] == [("smoke:SA-1:smoke", 1)]


def test_grouping_by_site_one_incident_updated_when_another_device_joins() -> None:
    eng, clock = engine(
        pack("id: battery\nmatch: {role: low_battery}\ncondition: value == True\ngroup_by: site\nseverity: info")
    )
    for d in ("SA-1", "SA-2", "SA-3"):
        eng.register_device(d, {"site": "Block 7"}, None)

    def battery(device: str, low: bool) -> list[tuple[str, int, str]]:
        clock.advance(1)
        alerts = eng.process([Reading(device, "low_battery", low, clock.t, None, "low_battery")])
        return [(a.status.value, a.seq, a.dedup_key) for a in alerts]

    assert battery("SA-1", True) == [("firing", 1, "battery:Block 7")]
    assert battery("SA-2", True) == [("update", 2, "battery:Block 7")]  # new evidence: another device
    assert battery("SA-2", True) == []
    assert battery("SA-1", False) == []  # SA-2 still low
    assert battery("SA-2", False) == [("resolved", 3, "battery:Block 7")]


def test_a_silence_holds_events_until_it_ends_and_then_shows_what_still_fires() -> None:
    eng, clock = engine(pack(SMOKE))
    eng.silence(Silence(device="SA-1", ends_at=until(clock.t + 3600), reason="maintenance", author="li.wei"))
    assert eng.process([smoke("SA-1", True, clock.t)]) == []
    assert eng.process([smoke("SA-2", True, clock.t)])[0].device_id == "SA-2"  # others are not silenced
    clock.advance(3599)
    assert eng.tick() == []
    clock.advance(1)
    (shown,) = eng.tick()
    assert (shown.device_id, shown.status, shown.seq, shown.started_at) == (
        "SA-1",
        EventStatus.FIRING,
        1,
        clock.t - 3600,
    )
    assert eng.counters["held_silenced"] == 1


def test_an_incident_that_resolves_while_silenced_is_never_published() -> None:
    eng, clock = engine(pack(SMOKE))
    eng.silence(Silence(rule="smoke", ends_at=until(clock.t + 60), reason="drill", author="li.wei"))
    eng.process([smoke("SA-1", True, clock.t)])
    clock.advance(30)
    assert eng.process([smoke("SA-1", False, clock.t)]) == []
    clock.advance(60)
    assert eng.tick() == []
    assert eng.counters["resolved_unshown"] == 1


def test_silences_in_the_pack_file() -> None:
    eng, clock = engine(pack(SMOKE))
    rule_pack = pack(SMOKE).model_copy(
        update={"silences": [Silence(site="Shed 1", ends_at=until(clock.t + 10), reason="works")]}
    )
    eng, clock = engine(rule_pack)
    eng.register_device("SA-1", {"site": "Shed 1"}, None)
    assert eng.process([smoke("SA-1", True, clock.t)]) == []


def test_inhibition_the_greater_event_supersedes_the_lesser_at_the_same_site() -> None:
    eng, clock = engine(
        pack(
            "id: arc\nmatch: {role: arc_fault}\ncondition: value == True\n"
            "category: fire_safety.ebike_charging_arc_fault",
            "id: arc_repeated\nmatch: {role: arc_fault}\ncondition: value == True\nwindow_s: 600\noccurrences: 2\n"
            "severity: critical\ncategory: fire_safety.ebike_charging_arc_fault\ninhibits: [arc]",
        )
    )
    eng.register_device("P-1", {"site": "Shed 1"}, None)
    eng.register_device("P-2", {"site": "Shed 2"}, None)

    def arc(device: str, value: bool) -> list[tuple[str, str, int]]:
        clock.advance(1)
        return [
            (a.rule_id, a.status.value, a.seq)
            for a in eng.process([Reading(device, "arc", value, clock.t, None, "arc_fault")])
        ]

    assert arc("P-1", True) == [("arc", "firing", 1)]
    assert arc("P-2", True) == [("arc", "firing", 1)]
    assert arc("P-1", False) == [("arc", "resolved", 2)]
    assert arc("P-1", True) == [("arc_repeated", "firing", 1)]  # the lesser one is held: inhibited
    assert eng.counters["held_inhibited"] == 1
    assert sorted((a.rule_id, a.device_id) for a in eng.firing()) == [("arc", "P-2"), ("arc_repeated", "P-1")]


def test_flood_cap_per_rule_shows_held_incidents_as_room_frees() -> None:
    eng, clock = engine(pack(SMOKE.replace("critical", "major") + "\nmax_open: 2"))
    shown = eng.process([smoke(f"SA-{i}", True, clock.t) for i in range(5)])
    assert [a.device_id for a in shown] == ["SA-0", "SA-1"]
    assert eng.counters["held_flood"] == 3
    clock.advance(1)
    out = eng.process([smoke("SA-0", False, clock.t)])
    assert [(a.device_id, a.status.value) for a in out] == [("SA-0", "resolved"), ("SA-2", "firing")]


def test_critical_incidents_are_never_held_by_the_flood_cap() -> None:
    eng, clock = engine(pack(SMOKE + "\nmax_open: 2"))
    shown = eng.process([smoke(f"SA-{i}", True, clock.t) for i in range(5)])
    assert [a.device_id for a in shown] == ["SA-0", "SA-1", "SA-2", "SA-3", "SA-4"]
    assert eng.counters["held_flood"] == 0
    assert eng.held() == {}


def test_held_counts_by_reason() -> None:
    eng, clock = engine(pack(SMOKE.replace("critical", "major") + "\nmax_open: 1"))
    eng.silence(Silence(device="SA-9", ends_at=until(clock.t + 60), reason="maintenance", author="li.wei"))
    eng.process([smoke(d, True, clock.t) for d in ("SA-0", "SA-1", "SA-2", "SA-9")])
    assert eng.held() == {"flood": 2, "silenced": 1}
