import itertools
import math
from pathlib import Path

import pytest

from gridedge.edge.clock import FakeClock
from gridedge.edge.config import parse_yaml
from gridedge.edge.errors import ConfigError
from gridedge.edge.event import EventStatus, Severity
from gridedge.edge.reading import Quality, Reading
from gridedge.rules.condition import ConditionError
from gridedge.rules.engine import RuleEngine
from gridedge.rules.model import BUILTIN_PACKS, RulePack, load_rule_pack

SMOKE_PACK = load_rule_pack(BUILTIN_PACKS / "smoke_alarm.yaml")


def _engine(pack: RulePack = SMOKE_PACK) -> tuple[RuleEngine, FakeClock]:
    clock = FakeClock()
    counter = itertools.count(1)
    engine = RuleEngine(pack, clock, event_id=lambda: f"event-{next(counter):04d}")
    engine.register_device("SA-1", {"site": "Shed 3"}, offline_after_s=150)
    return engine, clock


def _smoke(value: object, ts: float, quality: Quality = Quality.GOOD, device: str = "SA-1") -> Reading:
    return Reading(device, "smoke", value, ts, None, "smoke", quality)  # type: ignore[arg-type]


def test_smoke_alarm_fires_once_and_resolves_with_the_same_event_id() -> None:
    engine, clock = _engine()
    fired = engine.process([_smoke(False, clock.t), _smoke(True, clock.t + 1)])
    assert [(a.event_id, a.seq, a.status, a.severity, a.category) for a in fired] == [
        ("event-0001", 1, EventStatus.FIRING, Severity.CRITICAL, "fire_safety.smoke_alarm")
    ]
    assert fired[0].title == "Smoke alarm at Shed 3"
    assert engine.process([_smoke(True, clock.t + 2), _smoke(True, clock.t + 3)]) == []  # one incident, one case
    resolved = engine.process([_smoke(False, clock.t + 4)])
    assert [(a.event_id, a.seq, a.status) for a in resolved] == [("event-0001", 2, EventStatus.RESOLVED)]
    assert resolved[0].ended_at == clock.t + 4
    assert resolved[0].started_at == clock.t + 1
    assert [r.value for r in resolved[0].readings] == [True, True, True, False]
    again = engine.process([_smoke(True, clock.t + 5)])
    assert [(a.event_id, a.seq) for a in again] == [("event-0002", 1)]


def test_bad_quality_and_nan_never_change_state() -> None:
    engine, clock = _engine()
    assert engine.process([_smoke(None, clock.t, Quality.BAD)]) == []
    engine.process([_smoke(True, clock.t)])
    assert engine.process([_smoke(None, clock.t + 1, Quality.BAD)]) == []
    pack = parse_yaml(
        "rules:\n- id: hot\n  match: {role: temperature}\n  condition: value > 60\n"
        "  severity: major\n  category: fire_safety.ebike_charging_overheat\n  title: hot\n",
        RulePack,
        "p",
    )
    hot, _ = _engine(pack)
    assert hot.process([Reading("P-1", "t", math.nan, 0.0, "degC", "temperature")]) == []


def test_device_goes_offline_after_its_interval_and_comes_back() -> None:
    engine, clock = _engine()
    clock.advance(150)
    assert engine.tick() == []
    clock.advance(1)
    offline = engine.tick()
    assert [(a.category, a.seq, a.status, a.device_id) for a in offline] == [
        ("device.offline", 1, EventStatus.FIRING, "SA-1")
    ]
    clock.advance(60)
    assert engine.tick() == []  # still offline: no second event
    back = engine.process([_smoke(False, clock.t)])
    assert [(a.event_id, a.seq, a.status) for a in back] == [(offline[0].event_id, 2, EventStatus.RESOLVED)]


def test_messages_keep_a_device_online() -> None:
    engine, clock = _engine()
    for _ in range(10):
        clock.advance(100)
        engine.process([Reading("SA-1", "message", "heartbeat", clock.t, None, "heartbeat")])
        assert engine.tick() == []


def test_pending_for_duration_on_the_clock() -> None:
    pack = parse_yaml(
        "rules:\n- id: smoke_confirmed\n  match: {role: smoke}\n  condition: value\n  for_s: 10\n"
        "  severity: critical\n  category: fire_safety.smoke_alarm\n  title: t\n",
        RulePack,
        "p",
    )
    engine, clock = _engine(pack)
    assert engine.process([_smoke(True, clock.t)]) == []
    clock.advance(9)
    assert engine.tick() == []
    engine.process([_smoke(False, clock.t)])  # cleared while pending: forgotten
    clock.advance(5)
    assert engine.tick() == []
    engine.process([_smoke(True, clock.t)])
    clock.advance(10)
    assert [a.status for a in engine.tick()] == [EventStatus.FIRING]


def test_explicit_clear_condition_gives_hysteresis() -> None:
    pack = parse_yaml(
        "rules:\n- id: hot\n  match: {role: temperature}\n  condition: value > 60\n  clear: value < 50\n"
        "  severity: major\n  category: fire_safety.ebike_charging_overheat\n  title: hot $value $unit\n",
        RulePack,
        "p",
    )
    engine, _ = _engine(pack)

    def temp(v: float) -> list[EventStatus]:
        return [a.status for a in engine.process([Reading("P-1", "t", v, 0.0, "degC", "temperature")])]

    assert temp(61) == [EventStatus.FIRING]
    assert temp(55) == []
    assert temp(49) == [EventStatus.RESOLVED]


def test_readings_of_other_devices_and_roles_do_not_interfere() -> None:
    engine, clock = _engine()
    engine.process([_smoke(True, clock.t, device="SA-2")])
    resolved = engine.process([_smoke(False, clock.t, device="SA-1")])
    assert resolved == []
    assert [a.device_id for a in engine.firing()] == ["SA-2"]


@pytest.mark.parametrize(
    ("condition", "column", "message"),
    [
        ("valeu == True", 1, "unknown name 'valeu'"),
        ("value ==", 9, "syntax error"),
        ("value.__class__", 1, "attribute access is not allowed"),
        ("[v for v in value]", 1, "ListComp is not allowed"),
    ],
)
def test_a_bad_condition_fails_at_load_with_rule_and_position(condition: str, column: int, message: str) -> None:
    pack = parse_yaml(
        f"rules:\n- id: broken\n  match: {{role: smoke}}\n  condition: '{condition}'\n"
        "  severity: critical\n  category: fire_safety.smoke_alarm\n  title: t\n",
        RulePack,
        "p",
    )
    with pytest.raises(ConditionError) as err:
        RuleEngine(pack, FakeClock())
    assert err.value.rule_id == "broken"
    assert err.value.column == column
    assert message in str(err.value)


def test_a_rule_file_typo_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "rules:\n- id: x\n  match: {role: smoke}\n  conditon: value\n  severity: critical\n"
        "  category: fire_safety.smoke_alarm\n  title: t\n"
    )
    with pytest.raises(ConfigError, match=r"r.yaml:4: rules.0.conditon: Extra inputs are not permitted"):
        load_rule_pack(path)
