"""The officers' console, rendered on the server: case list, case page, grid tree, figures, login.

Pure functions from views to HTML. The list's script re-fetches the rendered `live` section when the
change stream says something changed, so there is no second renderer in JavaScript and no CDN.
Labels are Chinese first, then English, as officers read them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from urllib.parse import urlencode

from gridedge.center.access import Officer
from gridedge.center.figures import Figure
from gridedge.center.policy import Unit
from gridedge.center.views import CaseDetail, CaseView, GridCount, StatsView
from gridedge.center.workflow import Action
from gridedge.edge.categories import CATEGORIES
from gridedge.edge.grid import GridUnit

SEVERITY_LABELS = {"critical": "紧急 critical", "major": "重要 major", "minor": "一般 minor", "info": "提示 info"}
STATUS_LABELS = {"firing": "告警中 firing", "update": "更新 update", "resolved": "已恢复 resolved"}
STATE_LABELS = {
    "reported": "已上报 reported",
    "filed": "已立案 filed",
    "rejected": "误报 false alarm",
    "dispatched": "已派遣 dispatched",
    "handled": "已处置 handled",
    "closed": "已结案 closed",
    "evaluated": "已评价 evaluated",
}
ACTION_LABELS = {
    "verify": "核实立案 Verify & file",
    "reject": "误报 Reject as false alarm",
    "dispatch": "派遣 Dispatch",
    "handle": "处置反馈 Report handled",
    "close": "核查结案 Check & close",
    "send_back": "退回 Send back",
    "evaluate": "考核评价 Evaluate",
    "escalate": "超时上报 Escalated (late)",
}
LEVEL_LABELS = {"grid": "网格 grid", "community": "社区 community", "street": "街道 street", "district": "区 district"}
COLUMNS = (
    "级别 / Severity",
    "类别 / Category",
    "事件 / Event",
    "地点 / Place",
    "网格 / Grid",
    "办理状态 / State",
    "处置层级 / Level",
    "时限 / Due",
    "设备状态 / Source",
)

_STYLE = """
body { font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 0; color: #222; }
header { background: #0b3d91; color: #fff; padding: 0.6rem 1.5rem; display: flex; gap: 1.5rem; align-items: center; }
header a { color: #fff; text-decoration: none; font-weight: 600; } header .who { margin-left: auto; }
header form { display: inline; } main { padding: 1rem 1.5rem; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.sev-critical { color: #fff; background: #b00020; } .sev-major { background: #ffb74d; }
.sev-minor { background: #fff59d; } .sev-info { background: #e0e0e0; }
.muted { color: #777; font-size: 0.85em; } .late { color: #b00020; font-weight: 600; }
.error { background: #fdecea; color: #b00020; padding: 0.5rem; border-radius: 4px; }
#conn.down { color: #b00020; }
form.filters { display: flex; flex-wrap: wrap; gap: 0.6rem; align-items: end; margin-bottom: 0.8rem; }
form.filters label { display: flex; flex-direction: column; font-size: 0.8rem; }
.actions form { display: inline-block; margin: 0 1rem 0.6rem 0; padding: 0.5rem; border: 1px solid #ccc; }
.actions textarea { display: block; width: 22rem; height: 3rem; }
button { padding: 0.35rem 0.8rem; cursor: pointer; }
.facts td:first-child { width: 12rem; color: #555; }
ul.tree { list-style: none; padding-left: 1.2rem; } .count { font-weight: 600; }
"""

_LIVE_SCRIPT = """
let busy = false, again = false;
function localTimes() {
  document.querySelectorAll("time").forEach(t => { t.textContent = new Date(t.dateTime).toLocaleString(); });
}
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    const r = await fetch("/fragments/cases" + window.location.search, {cache: "no-store"});
    if (r.ok) { document.getElementById("live").outerHTML = await r.text(); localTimes(); }
  } catch (e) { /* the next change or poll retries */ }
  busy = false;
  if (again) { again = false; refresh(); }
}
function connState(up) {
  const c = document.getElementById("conn");
  c.textContent = up ? "实时更新 / live" : "重新连接中 / reconnecting…";
  c.className = up ? "muted" : "muted down";
}
localTimes();
if (window.EventSource) {
  const es = new EventSource("/api/stream");
  es.onopen = () => connState(true);
  es.onmessage = () => refresh();
  es.onerror = () => connState(false);
} else {
  setInterval(refresh, 2000);
}
"""


def page(title: str, body: str, officer: Officer | None, *, script: str = "") -> str:
    nav = ""
    if officer is not None:
        where = "/".join(officer.jurisdiction) or "全市 whole city"
        nav = f"""<a href="/">案件 Cases</a><a href="/grid">网格 Grid</a><a href="/figures">考核 Figures</a>
<a href="/gateways">网关 Gateways</a>
<span class="who">{escape(officer.name)} · {escape(LEVEL_LABELS.get(officer.role.value, officer.role.value))} ·
{escape(where)}</span><form method="post" action="/logout"><button>退出 Log out</button></form>"""
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · 网格中心 Grid centre</title>
<style>{_STYLE}</style>
</head>
<body>
<header><span>网格中心 / GridEdge grid centre</span>{nav}</header>
<main>
{body}
</main>
{f"<script>{script}</script>" if script else ""}
</body>
</html>
"""


def login_page(error: str = "") -> str:
    message = f'<p class="error">{escape(error)}</p>' if error else ""
    body = f"""<h1>登录 / Log in</h1>{message}
<form method="post" action="/login">
<p><label>用户名 Username<br><input name="username" autocomplete="username" required></label></p>
<p><label>密码 Password<br><input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">登录 Log in</button></p>
</form>"""
    return page("登录 Log in", body, None)


def case_list_page(officer: Officer, params: Mapping[str, str], cases: Sequence[CaseView], stats: StatsView) -> str:
    body = f"""<h1>案件 / Cases</h1>
<p id="conn" class="muted">连接中 / connecting…</p>
{_filters(params)}
{case_list_live(cases, stats)}"""
    return page("案件 Cases", body, officer, script=_LIVE_SCRIPT)


def _select(name: str, options: Mapping[str, str], chosen: str | None, *, blank: str = "全部 all") -> str:
    opts = [f'<option value="">{escape(blank)}</option>'] if blank else []
    for value, label in options.items():
        selected = " selected" if value == chosen else ""
        opts.append(f'<option value="{escape(value)}"{selected}>{escape(label)}</option>')
    return f'<select name="{name}">{"".join(opts)}</select>'


def _filters(p: Mapping[str, str]) -> str:
    statuses = {"open": "未结 open", "all": "全部 all"}
    categories = {code: f"{name} {code}" for code, name in CATEGORIES.items()}
    overdue = " checked" if p.get("overdue") in ("1", "true", "on") else ""
    return f"""<form class="filters" method="get" action="/">
<label>范围 Scope {_select("status", statuses, p.get("status", "open"), blank="")}</label>
<label>办理状态 State {_select("state", STATE_LABELS, p.get("state"))}</label>
<label>类别 Category {_select("category", categories, p.get("category"))}</label>
<label>级别 Severity {_select("severity", SEVERITY_LABELS, p.get("severity"))}</label>
<label>层级 Level {_select("level", LEVEL_LABELS, p.get("level"))}</label>
<label>网格 Grid <input name="grid" value="{escape(p.get("grid", ""))}" placeholder="D01/S01" size="14"></label>
<label>超时 Overdue <input type="checkbox" name="overdue" value="1"{overdue}></label>
<button type="submit">筛选 Filter</button>
</form>"""


def case_list_live(cases: Sequence[CaseView], stats: StatsView) -> str:
    """The part of the list page that changes: counts and the case table."""
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    rows = "".join(_row(c) for c in cases) or f'<tr><td colspan="{len(COLUMNS)}">无 / none</td></tr>'
    return f"""<section id="live">
<h2>未结案件 / Open cases: <span id="open-count">{stats.open_cases}</span> · 共 / all {stats.cases}</h2>
<p class="muted">已接收 / received {stats.received} · 已存储 / stored {stats.stored} ·
重复 / duplicates {stats.duplicates} · 拒收 / rejected {sum(stats.rejected.values())} ·
消息服务器 / broker {"已连接 connected" if stats.broker_connected else "未连接 disconnected"}</p>
<table id="cases">
<thead><tr>{head}</tr></thead>
<tbody>{rows}</tbody>
</table>
</section>"""


def _row(c: CaseView) -> str:
    g = c.grid
    grid_names = " ".join(u.name for u in (g.district, g.street, g.community, g.grid) if u.name)
    cells = (
        f'<td class="sev-{escape(c.severity.value)}">{escape(SEVERITY_LABELS[c.severity.value])}</td>',
        f'<td>{escape(c.category_name)}<br><span class="muted">{escape(c.category)}</span></td>',
        f'<td><a href="/cases/{escape(c.event_id)}">{escape(c.title)}</a><br>{_time(c.opened_at)}</td>',
        f'<td>{escape(c.site)}<br><span class="muted">{escape(c.address)}</span></td>',
        f'<td>{escape("/".join(g.codes()))}<br><span class="muted">{escape(grid_names)}</span></td>',
        f'<td class="state">{escape(STATE_LABELS[c.state.value])}</td>',
        f"<td>{escape(LEVEL_LABELS[c.level.value])}{_escalated(c)}</td>",
        f"<td>{_time(c.due_at) if c.due_at else '-'}</td>",
        f"<td>{escape(STATUS_LABELS[c.source_status.value])}</td>",
    )
    return f'<tr data-case="{escape(c.event_id)}">{"".join(cells)}</tr>'


def _units(c: CaseView) -> tuple[GridUnit, ...]:
    return (c.grid.district, c.grid.street, c.grid.community, c.grid.grid)


def _escalated(c: CaseView) -> str:
    return f' <span class="late">↑{c.escalations} 超时 late</span>' if c.escalations else ""


def case_page(
    officer: Officer, detail: CaseDetail, *, units: Sequence[Unit], suggested_unit: str | None, error: str = ""
) -> str:
    c = detail.case
    latest = detail.revisions[-1].event if detail.revisions else None
    facts = (
        ("类别 Category", f"{c.category_name} ({c.category})"),
        ("级别 Severity", SEVERITY_LABELS[c.severity.value]),
        ("网格 Grid", " / ".join(f"{u.name} {u.code}" for u in _units(c))),
        ("地点 Place", f"{c.site} · {c.address}"),
        ("设备 Device", f"{c.device_id or '-'} @ {c.gateway_id}"),
        ("设备状态 Source status", STATUS_LABELS[c.source_status.value]),
        ("办理状态 State", STATE_LABELS[c.state.value]),
        ("处置层级 Level", LEVEL_LABELS[c.level.value] + (f" (超时上报 {c.escalations}x)" if c.escalations else "")),
        ("责任单位 Unit", c.unit or "-"),
        ("退回 Sent back", str(c.reopened)),
    )
    fact_rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in facts)
    due = f"<tr><td>时限 Due</td><td>{_time(c.due_at)}</td></tr>" if c.due_at else ""
    readings = ""
    snapshot = ""
    if latest is not None:
        rows = (
            "".join(
                f"<tr><td>{escape(r.device_id)}</td><td>{escape(r.point)}</td><td>{escape(str(r.value))}"
                f" {escape(r.unit or '')}</td><td>{escape(r.quality)}</td><td>{_time(r.ts)}</td></tr>"
                for r in latest.evidence.readings
            )
            or '<tr><td colspan="5">无 / none</td></tr>'
        )
        readings = f"""<h2>读数 / Readings</h2><table id="readings"><thead><tr><th>设备 Device</th><th>点位 Point</th>
<th>数值 Value</th><th>质量 Quality</th><th>时间 Time</th></tr></thead><tbody>{rows}</tbody></table>"""
        if latest.evidence.snapshot is not None:
            sha = escape(latest.evidence.snapshot.sha256)
            snapshot = f"""<h2>快照 / Snapshot</h2><p><img src="/api/evidence/{sha}" alt="snapshot {sha}"
style="max-width: 40rem" onerror="this.replaceWith('快照未到 / snapshot not received: {sha}')"></p>"""
    message = f'<p class="error" id="error">{escape(error)}</p>' if error else ""
    body = f"""<p><a href="/">← 案件 / Cases</a></p>
<h1>{escape(c.title)}</h1>{message}
<table class="facts">{fact_rows}{due}</table>
<h2>下一步 / Next step</h2>
<div class="actions">{_action_forms(c, units, suggested_unit)}</div>
{readings}{snapshot}
<h2>时间线 / Timeline</h2>{_timeline(detail)}"""
    return page(c.title, body, officer)


def _action_forms(c: CaseView, units: Sequence[Unit], suggested: str | None) -> str:
    if not c.next_actions:
        return '<p class="muted">已完成 / finished</p>'
    forms = []
    for action in c.next_actions:
        extra = ""
        if action is Action.DISPATCH:
            options = {u.code: f"{u.name} ({u.code})" for u in units}
            extra = f"<label>单位 Unit {_select('unit', options, suggested or c.unit, blank='')}</label>"
        forms.append(
            f"""<form method="post" action="/cases/{escape(c.event_id)}/actions" data-action="{action.value}">
<input type="hidden" name="action" value="{action.value}">{extra}
<textarea name="comment" placeholder="说明 / comment"></textarea>
<button type="submit" name="go" value="{action.value}">{escape(ACTION_LABELS[action.value])}</button></form>"""
        )
    return "".join(forms)


def _timeline(detail: CaseDetail) -> str:
    entries: list[tuple[datetime, str]] = []
    for r in detail.revisions:
        entries.append(
            (
                r.received_at,
                f"设备 source · seq {r.seq} · {escape(STATUS_LABELS[r.status.value])} · {escape(r.event.title)}",
            ),
        )
    for s in detail.steps:
        what = escape(ACTION_LABELS.get(s.action, s.action))
        unit = f" → {escape(s.unit)}" if s.unit else ""
        comment = f" · “{escape(s.comment)}”" if s.comment else ""
        entries.append(
            (
                s.at,
                f"<b>{what}</b> · {escape(s.actor)} · {escape(STATE_LABELS[s.before.value])} → "
                f"{escape(STATE_LABELS[s.after.value])} · {escape(LEVEL_LABELS[s.level.value])}{unit}{comment}",
            )
        )
    items = "".join(f"<li>{_time(at)} {text}</li>" for at, text in sorted(entries, key=lambda e: e[0]))
    return f'<ol id="timeline">{items}</ol>'


def grid_page(officer: Officer, counts: Sequence[GridCount]) -> str:
    """The grid tree with open-case counts summed up each level: the map an officer scans first."""
    tree: dict[tuple[str, ...], int] = defaultdict(int)
    late: dict[tuple[str, ...], int] = defaultdict(int)
    names: dict[tuple[str, ...], str] = {}
    for g in counts:
        for depth in range(1, 5):
            key = tuple(g.codes[:depth])
            tree[key] += g.open_cases
            late[key] += g.escalated
            names[key] = g.names[depth - 1]

    def branch(prefix: tuple[str, ...]) -> str:
        children = sorted(k for k in tree if len(k) == len(prefix) + 1 and k[: len(prefix)] == prefix)
        if not children:
            return ""
        items = []
        for k in children:
            link = "/?" + urlencode({"grid": "/".join(k)})
            flag = f' <span class="late">超时 late {late[k]}</span>' if late[k] else ""
            items.append(
                f'<li data-grid="{escape("/".join(k))}"><a href="{escape(link)}">{escape(names[k])} {escape(k[-1])}</a>'
                f' <span class="count">{tree[k]}</span>{flag}{branch(k)}</li>'
            )
        return f'<ul class="tree">{"".join(items)}</ul>'

    body = f"""<h1>网格 / Grid tree</h1>
<p class="muted">未结案件数 / open cases per level (区 district &gt; 街道 street &gt; 社区 community &gt; 网格 grid)</p>
{branch(()) or "<p>无未结案件 / no open cases</p>"}"""
    return page("网格 Grid", body, officer)


def figures_page(officer: Officer, figures: Sequence[Figure], since: str, until: str) -> str:
    def table(by: str) -> str:
        head = (
            "<tr><th>对象 Key</th><th>发现 Found</th><th>结案 Closed</th><th>处置率 Disposal rate</th>"
            "<th>按时率 On-time rate</th><th>退回 Reopened</th><th>误报 False alarms</th>"
            "<th>各步平均 Avg per step</th></tr>"
        )
        rows = (
            "".join(
                f'<tr data-key="{escape(f.key)}"><td>{escape(f.key)}</td><td class="found">{f.found}</td>'
                f'<td class="closed">{f.closed}</td><td class="disposal">{_pct(f.disposal_rate)}</td>'
                f"<td>{_pct(f.on_time_rate)}</td><td>{f.reopened}</td><td>{f.false_alarms}</td>"
                f"<td>{escape(_steps(f.avg_step_s))}</td></tr>"
                for f in figures
                if f.by == by
            )
            or '<tr><td colspan="8">无 / none</td></tr>'
        )
        return f'<table id="figures-{by}">{head}{rows}</table>'

    query = urlencode({k: v for k, v in (("since", since), ("until", until)) if v})
    body = f"""<h1>考核评价 / Evaluation</h1>
<form class="filters" method="get" action="/figures">
<label>从 Since <input type="date" name="since" value="{escape(since)}"></label>
<label>到 Until <input type="date" name="until" value="{escape(until)}"></label>
<button type="submit">统计 Show</button> <a href="/api/figures.csv?{escape(query)}">CSV 导出 export</a>
</form>
<p class="muted">按期间内发现的案件计 / counted over cases found in the period:
处置率 = 结案 / 发现 (disposal = closed / found).</p>
<h2>按单位 / Per unit</h2>{table("unit")}
<h2>按网格 / Per grid</h2>{table("grid")}"""
    return page("考核 Figures", body, officer)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _steps(avg: Mapping[str, float]) -> str:
    return " · ".join(f"{STATE_LABELS.get(s, s).split()[0]} {_duration(v)}" for s, v in avg.items()) or "-"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


def _time(t: datetime) -> str:
    """UTC in the markup; the script shows it in the officer's local time."""
    return f'<time datetime="{t.isoformat()}">{t.strftime("%Y-%m-%d %H:%M:%S")} UTC</time>'
