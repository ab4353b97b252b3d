"""Evaluation (考核评价): how well each unit and grid turned found problems into closed cases.

Counted over the cases *found* in the period (opened then), not over what is open now, so a unit that
finds more problems and closes them scores better, never worse. False alarms (rejected) are left out
of the rates and counted on their own.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy import Engine, select

from gridedge.center.store import CaseQuery, case_filters
from gridedge.center.tables import Case, CaseStep
from gridedge.center.workflow import CaseState

DONE = {CaseState.CLOSED.value, CaseState.EVALUATED.value}
TIMED_STATES = (CaseState.REPORTED, CaseState.FILED, CaseState.DISPATCHED, CaseState.HANDLED)


class Figure(BaseModel):
    by: str
    """`unit` or `grid`."""
    key: str
    found: int
    closed: int
    false_alarms: int
    disposal_rate: float | None
    """closed / found; None when nothing was found."""
    on_time_rate: float | None
    """Closed without ever rising for lateness / closed."""
    reopened: int
    avg_step_s: dict[str, float]
    """Mean seconds spent in each workflow state before the next step."""


@dataclass
class _Tally:
    found: int = 0
    closed: int = 0
    on_time: int = 0
    false_alarms: int = 0
    reopened: int = 0
    step_s: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def figure(self, by: str, key: str) -> Figure:
        return Figure(
            by=by,
            key=key,
            found=self.found,
            closed=self.closed,
            false_alarms=self.false_alarms,
            disposal_rate=self.closed / self.found if self.found else None,
            on_time_rate=self.on_time / self.closed if self.closed else None,
            reopened=self.reopened,
            avg_step_s={s.value: _mean(self.step_s[s.value]) for s in CaseState if self.step_s.get(s.value)},
        )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


@dataclass(frozen=True, slots=True)
class CaseFacts:
    event_id: str
    grid: str
    unit: str | None
    state: str
    escalations: int
    reopened: int
    opened_at: float


def tally(cases: Iterable[CaseFacts], steps: Iterable[tuple[str, str, float]]) -> list[Figure]:
    """Pure: figures per unit and per grid from case facts and (event_id, state left, seconds in it)."""
    spent: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for event_id, state, seconds in steps:
        spent[event_id].append((state, seconds))
    groups: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    for c in cases:
        for key in (("unit", c.unit or "-"), ("grid", c.grid)):
            t = groups[key]
            if c.state == CaseState.REJECTED.value:
                t.false_alarms += 1
                continue
            t.found += 1
            t.reopened += c.reopened
            if c.state in DONE:
                t.closed += 1
                t.on_time += c.escalations == 0
            for state, seconds in spent[c.event_id]:
                t.step_s[state].append(seconds)
    return [t.figure(by, key) for (by, key), t in sorted(groups.items())]


def evaluate(engine: Engine, scope: Sequence[str], since: float, until: float) -> list[Figure]:
    """Figures for the cases in `scope` opened in [since, until)."""
    where = [*case_filters(scope, CaseQuery()), Case.opened_at >= since, Case.opened_at < until]
    case_stmt = select(
        Case.event_id,
        Case.district_code,
        Case.street_code,
        Case.community_code,
        Case.grid_code,
        Case.unit,
        Case.state,
        Case.escalations,
        Case.reopened,
        Case.opened_at,
    ).where(*where)
    step_stmt = (
        select(CaseStep.event_id, CaseStep.before, CaseStep.at, Case.opened_at)
        .join(Case, Case.event_id == CaseStep.event_id)
        .where(*where, CaseStep.action != "escalate")
        .order_by(CaseStep.event_id, CaseStep.at, CaseStep.id)
    )
    with engine.connect() as conn:
        facts = [CaseFacts(r[0], "/".join(r[1:5]), r[5], r[6], r[7], r[8], r[9]) for r in conn.execute(case_stmt)]
        durations: list[tuple[str, str, float]] = []
        last: dict[str, float] = {}
        for event_id, before, at, opened_at in conn.execute(step_stmt):
            durations.append((event_id, before, at - last.get(event_id, opened_at)))
            last[event_id] = at
    return tally(facts, durations)


CSV_COLUMNS = ("by", "key", "found", "closed", "false_alarms", "disposal_rate", "on_time_rate", "reopened")


def to_csv(figures: Sequence[Figure]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, *(f"avg_{s.value}_s" for s in TIMED_STATES)])
    for f in figures:
        row = f.model_dump()
        writer.writerow(
            [*(_cell(row[c]) for c in CSV_COLUMNS), *(_cell(f.avg_step_s.get(s.value)) for s in TIMED_STATES)]
        )
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
