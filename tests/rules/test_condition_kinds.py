"""Every condition kind and time semantic, table-driven on a fake clock.

Each case: a rule, a script of (seconds, reading value) steps (each followed by a tick; None: only
the tick), and exactly the revisions expected as (seconds, status, seq).
"""

from __future__ import annotations

import pytest

from gridedge.edge.reading import Value
from tests.rules.helpers import engine, pack, script

TEMP = "id: r\nmatch: {role: temperature}\n"

CASES: dict[str, tuple[str, list[tuple[float, Value | None]], list[tuple[float, str, int]]]] = {
    "threshold fires and resolves": (
        TEMP + "condition: value > 60",
        [(0, 50), (1, 61), (2, 62), (3, 59)],
        [(1, "firing", 1), (3, "resolved", 2)],
    ),
    "for: fires once held long enough": (
        TEMP + "condition: value > 60\nfor_s: 10",
        [(0, 61), (5, 62), (9, None), (10, None), (11, 63)],
        [(10, "firing", 1)],
    ),
    "for: a dip restarts the timer": (
        TEMP + "condition: value > 60\nfor_s: 10",
        [(0, 61), (5, 50), (10, 61), (19, None), (20, None)],
        [(20, "firing", 1)],
    ),
    "for: clears before it fires: nothing": (
        TEMP + "condition: value > 60\nfor_s: 10",
        [(0, 61), (9, 50), (30, None)],
        [],
    ),
    "clear expression: hysteresis band": (
        TEMP + "condition: value > 60\nclear: value < 50",
        [(0, 61), (1, 55), (2, 61), (3, 49)],
        [(0, "firing", 1), (3, "resolved", 2)],
    ),
    "keep firing: a short clear is not the end": (
        TEMP + "condition: value > 60\nkeep_firing_s: 30",
        [(0, 61), (1, 50), (20, None), (25, 61), (40, 50), (69, None), (70, None)],
        [(0, "firing", 1), (70, "resolved", 2)],
    ),
    "window avg over 10 s": (
        TEMP + "window_s: 10\ncondition: avg > 5\nclear: avg < 3",
        [(0, 4), (2, 4), (4, 8), (6, 8), (8, 0), (10, 0), (12, 0), (14, 0), (16, 0)],
        # avg: 4, 4, 5.3 fire, 6, 4.8, 4, 3.2 (t=0 fell out), 2.4 clear, ...
        [(4, "firing", 1), (14, "resolved", 2)],
    ),
    "window max over 5 s": (
        TEMP + "window_s: 5\ncondition: max > 100",
        [(0, 101), (3, 50), (6, 50)],
        [(0, "firing", 1), (6, "resolved", 2)],
    ),
    "window min over 5 s": (
        TEMP + "window_s: 5\ncondition: min > 60",
        [(0, 61), (2, 59), (4, 70), (8, 70)],
        [(0, "firing", 1), (2, "resolved", 2), (8, "firing", 1)],
    ),
    "rate of change per second": (
        TEMP + "window_s: 10\ncondition: count >= 2 and rate > 1",
        [(0, 20), (5, 22), (10, 40), (20, 41)],
        [(10, "firing", 1), (20, "resolved", 2)],
    ),
    "counter delta in a window": (
        TEMP + "window_s: 60\ncondition: delta >= 100",
        [(0, 1000), (30, 1050), (50, 1100), (115, 1120)],
        [(50, "firing", 1), (115, "resolved", 2)],
    ),
    "occurrences: three rising edges within a minute": (
        TEMP + "window_s: 60\noccurrences: 3\ncondition: value == True",
        [(0, True), (1, False), (10, True), (11, True), (12, False), (20, True), (21, False), (75, False)],
        # edges at 0, 10, 20 (11 is no edge); at 75 only the one at 20 is left in the window
        [(20, "firing", 1), (75, "resolved", 2)],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_condition_kind(case: str) -> None:
    rule, steps, expected = CASES[case]
    eng, clock = engine(pack(rule))
    assert script(eng, clock, steps) == expected


def test_two_points_of_one_device_with_one_role_are_two_incidents() -> None:
    eng, clock = engine(pack(TEMP + "condition: value > 60"))
    script(eng, clock, [(0, 70)], point="port3.temperature")
    script(eng, clock, [(1, 70)], point="port5.temperature")
    assert sorted(a.dedup_key for a in eng.firing()) == ["r:P-1:port3.temperature", "r:P-1:port5.temperature"]
    assert script(eng, clock, [(2, 50)], point="port3.temperature") == [(2, "resolved", 2)]
    assert [a.dedup_key for a in eng.firing()] == ["r:P-1:port5.temperature"]


def test_group_by_device_is_one_incident_for_its_points() -> None:
    eng, clock = engine(pack(TEMP + "condition: value > 60\ngroup_by: device"))
    assert script(eng, clock, [(0, 70)], point="port3.temperature") == [(0, "firing", 1)]
    assert script(eng, clock, [(1, 70)], point="port5.temperature") == []
    assert script(eng, clock, [(2, 50)], point="port3.temperature") == []  # port 5 still hot
    assert script(eng, clock, [(3, 50)], point="port5.temperature") == [(3, "resolved", 2)]


def test_window_aggregates_ignore_text_values() -> None:
    eng, clock = engine(pack(TEMP + "window_s: 10\ncondition: avg > 5"))
    assert script(eng, clock, [(0, "overload"), (1, 6)]) == [(1, "firing", 1)]


def test_match_by_device_and_site_narrows_a_rule() -> None:
    eng, clock = engine(
        pack(
            "id: only_p2\nmatch: {role: temperature, device: P-2}\ncondition: value > 60",
            "id: only_shed\nmatch: {role: temperature, site: Shed 9}\ncondition: value > 60",
            "id: only_port2\nmatch: {role: temperature, point: port2.temperature}\ncondition: value > 60",
        )
    )
    eng.register_device("P-1", {"site": "Shed 9"}, None)
    eng.register_device("P-2", {"site": "Shed 1"}, None)
    for device in ("P-1", "P-2", "P-3"):
        script(eng, clock, [(0, 70)], device=device)
    assert sorted((a.rule_id, a.device_id) for a in eng.firing()) == [("only_p2", "P-2"), ("only_shed", "P-1")]
    script(eng, clock, [(1, 70)], device="P-3", point="port2.temperature")
    assert [a.device_id for a in eng.firing() if a.rule_id == "only_port2"] == ["P-3"]


def test_match_by_profile_and_grid_labels() -> None:
    eng, clock = engine(
        pack(
            "id: piles\nmatch: {role: temperature, profile: ebike-charging-pile-10}\ncondition: value > 60",
            "id: g07\nmatch: {role: temperature, grid: G07}\ncondition: value > 60",
        )
    )
    eng.register_device("P-1", {"site": "Shed", "profile": "ebike-charging-pile-10", "grid": "G01"}, None)
    eng.register_device("T-1", {"site": "Hall", "profile": "room-thermometer", "grid": "G07"}, None)
    for device in ("P-1", "T-1", "X-1"):
        script(eng, clock, [(0, 70)], device=device)
    assert sorted((a.rule_id, a.device_id) for a in eng.firing()) == [("g07", "T-1"), ("piles", "P-1")]
