"""A rules engine on a fake clock, and a tiny script format for table-driven tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from gridedge.edge.alert import Alert
from gridedge.edge.clock import FakeClock
from gridedge.edge.config import parse_yaml
from gridedge.edge.reading import Reading, Value
from gridedge.rules.engine import RuleEngine
from gridedge.rules.model import RulePack

T0 = 1_800_000_000.0  # 2027-01-15, a Friday, 08:00 UTC (16:00 in Beijing)


def pack(*rules: str) -> RulePack:
    """Rules written as YAML mappings (one string each); severity, category and title default."""
    defaults = "  severity: major\n  category: fire_safety.ebike_charging_overheat\n  title: t\n"
    body = "".join("- " + r.strip().replace("\n", "\n  ") + "\n" + _missing(r, defaults) for r in rules)
    return parse_yaml("rules:\n" + body, RulePack, "test")


def _missing(rule: str, defaults: str) -> str:
    top = {line.split(":")[0] for line in rule.strip().splitlines()}
    return "".join(line + "\n" for line in defaults.splitlines() if line.split(":")[0].strip() not in top)


def engine(rule_pack: RulePack, start: float = T0) -> tuple[RuleEngine, FakeClock]:
    clock = FakeClock(start)
    counter = itertools.count(1)
    return RuleEngine(rule_pack, clock, event_id=lambda: f"event-{next(counter):04d}"), clock


def script(
    eng: RuleEngine,
    clock: FakeClock,
    steps: Sequence[tuple[float, Value | None]],
    *,
    device: str = "P-1",
    point: str = "port1.temperature",
    role: str = "temperature",
) -> list[tuple[float, str, int]]:
    """At each step (seconds after start, value): the reading (None: none) then a tick.
    Returns (step time, status, seq) of every revision raised."""
    start = clock.t
    out: list[Alert] = []
    seen: list[tuple[float, str, int]] = []
    for t, value in steps:
        clock.t = start + t
        out = []
        if value is not None:
            out += eng.process([Reading(device, point, value, clock.t, None, role)])
        out += eng.tick()
        seen += [(t, a.status.value, a.seq) for a in out]
    return seen
