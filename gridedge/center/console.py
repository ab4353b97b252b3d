"""The officers' console, rendered on the server: case list, case page, grid tree, figures, login,
error pages.

Pure functions from views to HTML through the autoescaping templates (see render.py). The list's
script re-fetches the rendered `live` section when the change stream says something changed, so there
is no second renderer in JavaScript and no CDN.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gridedge.center.access import Officer
from gridedge.center.figures import Figure
from gridedge.center.labels import LEVEL_LABELS, SEVERITY_LABELS, STATE_LABELS, STATUS_LABELS
from gridedge.center.policy import Unit
from gridedge.center.render import render
from gridedge.center.views import CaseDetail, CaseView, GridCount, RevisionView, StatsView, StepView
from gridedge.edge.categories import CATEGORIES


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who looks at a page, and the CSRF token every form of theirs carries (see web.csrf_token)."""

    officer: Officer
    csrf: str


def page(template: str, title: str, viewer: Viewer | None, **context: object) -> str:
    return render(
        template,
        title=title,
        officer=viewer.officer if viewer else None,
        csrf=viewer.csrf if viewer else "",
        **context,
    )


def login_page(csrf: str, error: str = "") -> str:
    """`csrf` is the login cookie's value: the login form is protected before any session exists."""
    return render("login.html", title="登录 Log in", officer=None, csrf=csrf, error=error)


def error_page(viewer: Viewer | None, heading: str, message: str) -> str:
    """Any refusal the console shows (not found, bad input, not allowed), styled and with navigation."""
    return page("error.html", heading, viewer, heading=heading, message=message)


def case_list_page(viewer: Viewer, params: Mapping[str, str], cases: Sequence[CaseView], stats: StatsView) -> str:
    categories = {code: f"{name} {code}" for code, name in CATEGORIES.items()}
    return page(
        "cases.html",
        "案件 Cases",
        viewer,
        params=params,
        categories=categories,
        cases=cases,
        stats=stats,
    )


def case_list_live(cases: Sequence[CaseView], stats: StatsView) -> str:
    """The part of the list page that changes: counts and the case table."""
    return render("live.html", cases=cases, stats=stats)


@dataclass(frozen=True)
class TimelineEntry:
    """A source revision or an officer's step, in the order they happened."""

    at: datetime
    revision: RevisionView | None = None
    step: StepView | None = None


def case_page(
    viewer: Viewer, detail: CaseDetail, *, units: Sequence[Unit], suggested_unit: str | None, error: str = ""
) -> str:
    c = detail.case
    g = c.grid
    facts = (
        ("类别 Category", f"{c.category_name} ({c.category})"),
        ("级别 Severity", SEVERITY_LABELS[c.severity.value]),
        ("网格 Grid", " / ".join(f"{u.name} {u.code}" for u in (g.district, g.street, g.community, g.grid))),
        ("地点 Place", f"{c.site} · {c.address}"),
        ("设备 Device", f"{c.device_id or '-'} @ {c.gateway_id}"),
        ("设备状态 Source status", STATUS_LABELS[c.source_status.value]),
        ("办理状态 State", STATE_LABELS[c.state.value]),
        ("处置层级 Level", LEVEL_LABELS[c.level.value] + (f" (超时上报 {c.escalations}x)" if c.escalations else "")),
        ("责任单位 Unit", c.unit or "-"),
        ("退回 Sent back", str(c.reopened)),
    )
    timeline = sorted(
        [TimelineEntry(r.received_at, revision=r) for r in detail.revisions]
        + [TimelineEntry(s.at, step=s) for s in detail.steps],
        key=lambda e: e.at,
    )
    return page(
        "case.html",
        c.title,
        viewer,
        detail=detail,
        facts=facts,
        latest=detail.revisions[-1].event if detail.revisions else None,
        unit_options={u.code: f"{u.name} ({u.code})" for u in units},
        suggested_unit=suggested_unit,
        timeline=timeline,
        error=error,
    )


@dataclass
class GridNode:
    """One unit of the grid tree with the open cases of its subtree."""

    path: str
    code: str
    name: str
    open_cases: int = 0
    escalated: int = 0
    children: list[GridNode] = field(default_factory=list)


def grid_tree(counts: Sequence[GridCount]) -> list[GridNode]:
    """Open-case counts per grid summed up each level (district > street > community > grid)."""
    nodes: dict[tuple[str, ...], GridNode] = {}
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for g in counts:
        for depth in range(1, 5):
            key = tuple(g.codes[:depth])
            if key not in nodes:
                nodes[key] = GridNode(path="/".join(key), code=key[-1], name=g.names[depth - 1])
                children[key[:-1]].append(key)
            nodes[key].open_cases += g.open_cases
            nodes[key].escalated += g.escalated
    for parent, keys in children.items():
        if parent:
            nodes[parent].children = [nodes[k] for k in sorted(keys)]
    return [nodes[k] for k in sorted(children[()])]


def grid_page(viewer: Viewer, counts: Sequence[GridCount]) -> str:
    return page("grid.html", "网格 Grid", viewer, tree=grid_tree(counts))


def figures_page(viewer: Viewer, figures: Sequence[Figure], since: str, until: str) -> str:
    export = {k: v for k, v in (("since", since), ("until", until)) if v}
    return page(
        "figures.html",
        "考核 Figures",
        viewer,
        figures=figures,
        since=since,
        until=until,
        export_query=export,
    )
