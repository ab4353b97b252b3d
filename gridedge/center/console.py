"""The officers' console: one server-rendered page of open cases that refreshes itself.

The rows are rendered here only; the page's script re-fetches the rendered `live` section when the
change stream says something was stored, so there is no second renderer in JavaScript and no CDN.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from gridedge.center.views import CaseView, StatsView

SEVERITY_LABELS = {"critical": "紧急 critical", "major": "重要 major", "minor": "一般 minor", "info": "提示 info"}
STATUS_LABELS = {"firing": "告警中 firing", "update": "更新 update", "resolved": "已恢复 resolved"}
COLUMNS = (
    "级别 / Severity",
    "类别 / Category",
    "事件 / Event",
    "地点 / Place",
    "网格 / Grid",
    "设备 / Device",
    "开始 / Started",
    "最新状态 / Last status",
    "版本 / Seq",
)

_STYLE = """
body { font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.sev-critical { color: #fff; background: #b00020; } .sev-major { background: #ffb74d; }
.sev-minor { background: #fff59d; } .sev-info { background: #e0e0e0; }
.muted { color: #777; font-size: 0.85em; }
#conn.down { color: #b00020; }
"""

_SCRIPT = """
let busy = false, again = false;
function localTimes() {
  document.querySelectorAll("time").forEach(t => { t.textContent = new Date(t.dateTime).toLocaleString(); });
}
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    const r = await fetch("fragments/open-cases", {cache: "no-store"});
    if (r.ok) { document.getElementById("live").outerHTML = await r.text(); localTimes(); }
  } catch (e) { /* the next change or poll retries */ }
  busy = false;
  if (again) { again = false; refresh(); }
}
function connState(up) {
  const c = document.getElementById("conn");
  c.textContent = up ? "实时更新 / live" : "重新连接中 / reconnecting…";
  c.className = up ? "" : "down";
}
localTimes();
if (window.EventSource) {
  const es = new EventSource("api/stream");
  es.onopen = () => connState(true);
  es.onmessage = () => refresh();
  es.onerror = () => connState(false);
} else {
  setInterval(refresh, 2000);
}
"""


def render_page(cases: Sequence[CaseView], stats: StatsView) -> str:
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>网格中心 / Grid centre</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>网格中心 / GridEdge grid centre</h1>
<p id="conn" class="muted">连接中 / connecting…</p>
{render_live(cases, stats)}
<script>{_SCRIPT}</script>
</body>
</html>
"""


def render_live(cases: Sequence[CaseView], stats: StatsView) -> str:
    """The part of the page that changes: counts and the open-case table."""
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    rows = "".join(_row(c) for c in cases) or f'<tr><td colspan="{len(COLUMNS)}">无 / none</td></tr>'
    return f"""<section id="live">
<h2>未结案件 / Open cases: {stats.open_cases}</h2>
<p class="muted">已接收 / received {stats.received} · 已存储 / stored {stats.stored} ·
重复 / duplicates {stats.duplicates} · 拒收 / rejected {sum(stats.rejected.values())} ·
消息服务器 / broker {"已连接 connected" if stats.broker_connected else "未连接 disconnected"}</p>
<table>
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
        f'<td><a href="api/cases/{escape(c.event_id)}">{escape(c.title)}</a></td>',
        f'<td>{escape(c.site)}<br><span class="muted">{escape(c.address)}</span></td>',
        f'<td>{escape("/".join(g.codes()))}<br><span class="muted">{escape(grid_names)}</span></td>',
        f'<td>{escape(c.device_id or "")}<br><span class="muted">{escape(c.gateway_id)}</span></td>',
        f"<td>{_time(c.started_at)}</td>",
        f"<td>{escape(STATUS_LABELS[c.source_status.value])}<br>{_time(c.observed_at)}</td>",
        f"<td>{c.seq}</td>",
    )
    return f"<tr>{''.join(cells)}</tr>"


def _time(t: datetime) -> str:
    """UTC in the markup; the script shows it in the officer's local time."""
    return f'<time datetime="{t.isoformat()}">{t.strftime("%Y-%m-%d %H:%M:%S")} UTC</time>'
