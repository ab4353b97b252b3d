"""What the map and the charts show: open cases per grid cell with their worst severity, and cases
opened per day by category, level or unit. Read-only queries, always within an officer's scope."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import Engine, case, func, select

from gridedge.center.store import CaseQuery, case_filters
from gridedge.center.tables import Case

ChartBy = Literal["category", "level", "unit", "severity"]
_COLUMNS = {"category": Case.category, "level": Case.level, "unit": Case.unit, "severity": Case.severity}
DAY_S = 86400


class CellHeat(BaseModel):
    grid: str
    """Grid codes joined by '/'."""
    name: str
    open_cases: int
    escalated: int
    worst: str | None
    """The most severe open case's severity, None when nothing is open."""


class Series(BaseModel):
    key: str
    counts: list[int]


class CasesOverTime(BaseModel):
    by: str
    days: list[str]
    """Local dates (YYYY-MM-DD) in the centre's time zone."""
    series: list[Series]


def grid_heat(engine: Engine, scope: Sequence[str]) -> list[CellHeat]:
    """Per grid cell in scope with open cases: how many, how many rose for lateness, the worst severity."""
    stmt = (
        select(
            Case.district_code,
            Case.street_code,
            Case.community_code,
            Case.grid_code,
            func.max(Case.grid_name),
            func.count(),
            func.sum(case((Case.escalations > 0, 1), else_=0)),
            func.min(Case.severity_rank),
        )
        .where(*case_filters(scope, CaseQuery(open_only=True)))
        .group_by(Case.district_code, Case.street_code, Case.community_code, Case.grid_code)
    )
    severities = ("critical", "major", "minor", "info")
    with engine.connect() as conn:
        return [
            CellHeat(
                grid="/".join(r[:4]),
                name=r[4] or "",
                open_cases=int(r[5]),
                escalated=int(r[6] or 0),
                worst=severities[int(r[7])] if r[7] is not None else None,
            )
            for r in conn.execute(stmt)
        ]


def cases_over_time(
    engine: Engine, scope: Sequence[str], by: ChartBy, *, until: float, days: int, zone: ZoneInfo
) -> CasesOverTime:
    """Cases opened per local day over the `days` days up to `until`, one series per value of `by`."""
    end = datetime.fromtimestamp(until, zone).date()
    first = end - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=zone).timestamp()
    column = _COLUMNS[by]
    stmt = select(column, Case.opened_at).where(*case_filters(scope, CaseQuery()), Case.opened_at >= start)
    labels = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    with engine.connect() as conn:
        for key, opened_at in conn.execute(stmt.where(Case.opened_at < until + DAY_S)):
            day = (datetime.fromtimestamp(opened_at, zone).date() - first).days
            if 0 <= day < days:
                counts[key or "-"][day] += 1
    return CasesOverTime(by=by, days=labels, series=[Series(key=k, counts=v) for k, v in sorted(counts.items())])
