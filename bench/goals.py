"""What issue 17 set each headline figure to reach on the reference machine, checked against the results.

A goal names a figure (or the ratio of two) and a bound; `docs/performance.md` renders them as a table
(`<!--bench-goals-->`, bench/report.py), so a page never claims a goal its results do not show.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Figures = Mapping[str, Mapping[str, float]]
"""Scenario -> figure -> value, as in bench/results/*.json."""


@dataclass(frozen=True)
class Goal:
    what: str
    scenario: str
    figure: str
    bound: float
    at_least: bool = True
    over: str | None = None  # the goal is on figure / over (both of this scenario)

    def measured(self, figures: Figures) -> float | None:
        found = figures.get(self.scenario, {})
        value = found.get(self.figure)
        if value is None or self.over is None:
            return value
        base = found.get(self.over)
        return value / base if base else None

    def met(self, figures: Figures) -> bool | None:
        value = self.measured(figures)
        compare: Callable[[float, float], bool] = operator.ge if self.at_least else operator.le
        return None if value is None else compare(value, self.bound)

    @property
    def name(self) -> str:
        return f"{self.figure} / {self.over}" if self.over else self.figure

    @property
    def sign(self) -> str:
        return ">=" if self.at_least else "<="


GOALS = (
    Goal("QoS 1 burst against the broker's own ceiling", "ingest", "ratio_to_ceiling", 0.8),
    Goal("sustained rate (p99 <= 100 ms, nothing lost) against Node-RED", "ingest", "sustained_ratio_to_nodered", 2),
    Goal("1280x720 H.264 cameras at 5 analysed fps, alarm p99 <= 2x no-camera + 10 ms", "vision", "cameras_at_5fps", 8),
    Goal("grid events per second, one centre replica, durable PostgreSQL", "centre", "events_per_s_pg_1", 5000),
    Goal("two replicas against one", "centre", "events_per_s_pg_2_total", 1.6, over="events_per_s_pg_1"),
    Goal("Modbus points per second against raw pymodbus, same registers", "modbus", "ratio_to_raw_pymodbus", 0.8),
    Goal("alarm p99 at 10 % of saturation, ms", "latency", "p99_ms_at_10pct", 20, at_least=False),
    Goal("every scenario of `gridedge bench all`, seconds", "all", "scenarios_seconds", 900, at_least=False),
)
