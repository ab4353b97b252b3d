"""Lifecycle transitions (firing -> update -> resolved as grid-event revisions), schedules and absence."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gridedge.edge.event import EventStatus, Severity
from gridedge.edge.grid import Level
from gridedge.edge.reading import Quality, Reading
from tests.rules.helpers import engine, pack, script

BEIJING = ZoneInfo("Asia/Shanghai")


def test_escalation_is_one_update_revision_then_resolved_with_the_same_event_id() -> None:
    eng, clock = engine(
        pack(
            "id: hot\nmatch: {role: temperature}\ncondition: value > 60\n"
            "escalate: {after_s: 600, severity: critical, level: street}"
        )
    )
    fired = eng.process([Reading("P-1", "port1.temperature", 70.0, clock.t, "degC", "temperature")])
    clock.advance(599)
    assert eng.tick() == []
    clock.advance(1)
    (update,) = eng.tick()
    clock.advance(100)
    assert eng.tick() == []  # escalates once
    (resolved,) = eng.process([Reading("P-1", "port1.temperature", 40.0, clock.t, "degC", "temperature")])
    revisions = [*fired, update, resolved]
    assert [(a.event_id, a.seq, a.status, a.severity, a.level) for a in revisions] == [
        ("event-0001", 1, EventStatus.FIRING, Severity.MAJOR, Level.GRID),
        ("event-0001", 2, EventStatus.UPDATE, Severity.CRITICAL, Level.STREET),
        ("event-0001", 3, EventStatus.RESOLVED, Severity.CRITICAL, Level.STREET),
    ]
    assert resolved.ended_at == clock.t
    assert [r.value for r in resolved.readings] == [70.0, 40.0]


def test_evidence_is_bounded_and_a_held_condition_adds_no_revision() -> None:
    eng, clock = engine(pack("id: hot\nmatch: {role: temperature}\ncondition: value > 60"))
    steps = [(float(t), 61.0 + t) for t in range(50)] + [(50.0, 10.0)]
    assert script(eng, clock, steps) == [(0, "firing", 1), (50, "resolved", 2)]


def test_title_template_names_site_point_and_value() -> None:
    eng, clock = engine(
        pack("id: hot\nmatch: {role: temperature}\ncondition: value > 60\ntitle: 'Hot at $site ($point $value $unit)'")
    )
    eng.register_device("P-1", {"site": "Shed 3", "address": "1 Road"}, None)
    (a,) = eng.process([Reading("P-1", "port3.temperature", 71.5, clock.t, "degC", "temperature")])
    assert a.title == "Hot at Shed 3 (port3.temperature 71.5 degC)"


SCHEDULE = (
    "id: goods\nmatch: {role: dwell}\ncondition: value >= 300\n"
    "schedule: {days: [mon, tue, wed, thu, fri], hours: ['09:00-12:00', '13:00-18:00'], holidays: CN,"
    " extra_holidays: [2026-10-20]}"
)


@pytest.mark.parametrize(
    ("local", "fires"),
    [
        (datetime(2026, 10, 9, 10, 0), True),  # Friday morning
        (datetime(2026, 10, 9, 12, 30), False),  # lunch break
        (datetime(2026, 10, 9, 18, 0), False),  # after hours (end is exclusive)
        (datetime(2026, 10, 10, 10, 0), False),  # Saturday
        (datetime(2026, 10, 1, 10, 0), False),  # National Day, a Thursday
        (datetime(2026, 10, 20, 10, 0), False),  # a listed extra holiday, a Tuesday
    ],
)
def test_schedule_business_hours_and_holidays(local: datetime, fires: bool) -> None:
    start = local.replace(tzinfo=BEIJING).timestamp()
    eng, clock = engine(pack(SCHEDULE), start=start)
    got = script(eng, clock, [(0, 400.0)], point="dwell", role="dwell")
    assert got == ([(0, "firing", 1)] if fires else [])


def test_leaving_the_schedule_resolves_an_open_incident() -> None:
    start = datetime(2026, 10, 9, 17, 58, tzinfo=BEIJING).timestamp()
    eng, clock = engine(pack(SCHEDULE), start=start)
    steps = [(0, 400.0), (60, 460.0), (120, 520.0)]
    assert script(eng, clock, steps, point="dwell", role="dwell") == [(0, "firing", 1), (120, "resolved", 2)]


def test_absence_of_a_role_with_its_own_interval() -> None:
    eng, clock = engine(pack("id: no_heartbeat\nkind: absence\nmatch: {role: heartbeat}\nafter_s: 60"))
    eng.register_device("SA-1", {"site": "Block 2"}, None, roles=["heartbeat", "smoke"])
    eng.register_device("P-1", {"site": "Shed"}, None, roles=["temperature"])  # has no heartbeat: never absent
    eng.tick()
    clock.advance(30)
    eng.process([Reading("SA-1", "smoke", False, clock.t, None, "smoke")])  # not a heartbeat
    clock.advance(31)
    (offline,) = eng.tick()
    assert (offline.device_id, offline.status, offline.started_at) == ("SA-1", EventStatus.FIRING, clock.t - 61)
    clock.advance(5)
    (back,) = eng.process([Reading("SA-1", "message", "heartbeat", clock.t, None, "heartbeat")])
    assert (back.event_id, back.seq, back.status) == (offline.event_id, 2, EventStatus.RESOLVED)


def test_unavailable_readings_do_not_keep_a_device_online() -> None:
    eng, clock = engine(pack("id: offline\nkind: absence"))
    eng.register_device("P-1", {"site": "Shed"}, offline_after_s=30)
    for _ in range(4):
        clock.advance(10)
        eng.process([Reading("P-1", "port1.temperature", None, clock.t, None, "temperature", Quality.UNAVAILABLE)])
    assert [a.status for a in eng.tick()] == [EventStatus.FIRING]
