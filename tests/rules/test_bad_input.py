"""Doubtful input has defined behaviour (docs/rules.md): counted, never a crash, never a false event."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from gridedge.edge.clock import FakeClock
from gridedge.edge.reading import Quality, Reading, Value
from gridedge.rules.engine import RuleEngine
from gridedge.rules.model import RuleError, merge_packs
from tests.rules.helpers import engine, pack, script

HOT = "id: hot\nmatch: {role: temperature}\ncondition: value > 60"


def temp(value: Value | None, ts: float, quality: Quality = Quality.GOOD) -> Reading:
    return Reading("P-1", "port1.temperature", value, ts, "degC", "temperature", quality)


@pytest.mark.parametrize(
    ("reading", "counter"),
    [
        (temp(99.0, 0, Quality.BAD), "bad_quality"),
        (temp(None, 0, Quality.UNAVAILABLE), "bad_quality"),
        (temp(math.nan, 0), "not_a_number"),
        (temp(math.inf, 0), "not_a_number"),
    ],
)
def test_untrusted_values_change_no_state_and_are_counted(reading: Reading, counter: str) -> None:
    eng, clock = engine(pack(HOT))
    assert eng.process([temp(70.0, clock.t)])  # firing
    assert eng.process([replace(reading, ts=clock.t + 1)]) == []  # does not clear it
    assert eng.counters[counter] == 1
    assert len(eng.firing()) == 1


def test_out_of_order_readings_are_ignored_and_counted() -> None:
    eng, clock = engine(pack(HOT))
    eng.process([temp(70.0, clock.t)])
    assert eng.process([temp(20.0, clock.t - 5)]) == []  # an old reading cannot clear a newer state
    assert eng.counters["out_of_order"] == 1
    assert [a.status.value for a in eng.process([temp(20.0, clock.t + 1)])] == ["resolved"]


def test_duplicates_are_ignored_and_counted_but_a_new_value_at_the_same_time_counts() -> None:
    eng, clock = engine(pack("id: hot\nmatch: {role: temperature}\nwindow_s: 60\ncondition: count >= 2"))
    assert eng.process([temp(30.0, clock.t), temp(30.0, clock.t)]) == []
    assert eng.counters["duplicate"] == 1
    assert len(eng.process([temp(31.0, clock.t)])) == 1  # same timestamp, another value: last one wins


def test_text_where_a_number_is_expected_does_not_hold() -> None:
    eng, clock = engine(pack(HOT))
    assert script(eng, clock, [(0, "hot"), (1, True), (2, 61.0)]) == [(2, "firing", 1)]


def test_unregistered_devices_are_evaluated_with_their_id_as_site() -> None:
    eng, clock = engine(pack(HOT + "\ntitle: 'Hot at $site'"))
    (a,) = eng.process([temp(70.0, clock.t)])
    assert a.title == "Hot at P-1"


def test_a_rule_for_a_role_no_registered_device_has_is_reported() -> None:
    eng, _ = engine(pack(HOT, "id: door\nmatch: {role: door_open}\ncondition: value == True"))
    eng.register_device("P-1", {"site": "Shed"}, None, roles=["temperature", "current"])
    assert eng.unmatched_rules() == ["door"]


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ("id: c\nkind: correlation\nall_of: [hot, nope]", "all_of", "unknown or disabled rules ['nope']"),
        ("id: h\nmatch: {role: current}\ncondition: value > 9\ninhibits: [ghost]", "inhibits", "['ghost']"),
        ("id: w\nmatch: {role: temperature}\ncondition: avg > 3", "condition column 1", "'avg' needs `window_s`"),
    ],
)
def test_a_rule_that_cannot_work_fails_at_load_naming_rule_and_field(rule: str, field: str, message: str) -> None:
    with pytest.raises(RuleError) as err:
        RuleEngine(pack(HOT, rule), FakeClock())
    assert err.value.field == field.split(" column", maxsplit=1)[0]
    assert message in str(err.value)
    assert field in str(err.value)


def test_a_rule_id_in_two_packs_is_refused_naming_it() -> None:
    with pytest.raises(RuleError, match=r"rule 'hot', id: defined in more than one pack"):
        merge_packs([pack(HOT), pack(HOT)])
