"""The console's gateway page: each gateway of the officer's jurisdiction, online or not, and what its
officers do not see in the case list: incidents held back (silenced, inhibited, flood), the silences in
force (who set them, why, until when) and storage trouble. Rendered from the gateways' retained status
(center/gateways.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from gridedge.center.access import Officer
from gridedge.center.console import page
from gridedge.center.gateways import GatewayStatus, SilenceView

HELD_LABELS = {"silenced": "已屏蔽 silenced", "inhibited": "被抑制 inhibited", "flood": "限流 flood"}


def gateways_page(officer: Officer, gateways: Sequence[GatewayStatus]) -> str:
    rows = "".join(_row(g) for g in gateways) or '<tr><td colspan="5">无网关状态 / no gateway heard from</td></tr>'
    body = f"""<h1>网关 / Gateways</h1>
<p class="muted">屏蔽与暂不上报的告警 / silences and incidents held back, from each gateway's status</p>
<table id="gateways">
<tr><th>网关 Gateway</th><th>状态 State</th><th>存储 Storage</th><th>暂不上报 Held</th><th>屏蔽 Silences</th></tr>
{rows}
</table>"""
    return page("网关 Gateways", body, officer)


def _row(g: GatewayStatus) -> str:
    state = escape(g.state) + (f" ({escape(g.reason)})" if g.reason else "")
    storage = "正常 ok"
    if g.storage is not None and not g.storage.ok:
        why = escape(g.storage.error or "")
        storage = f'<span class="late">故障 failing: {why}; {g.storage.held_in_memory} waiting</span>'
    held = ", ".join(f"{escape(HELD_LABELS.get(k, k))} {n}" for k, n in sorted(g.held.items()) if n) or "-"
    silences = "".join(_silence(s) for s in g.silences) or "-"
    return (
        f'<tr data-gateway="{escape(g.gateway_id)}"><td>{escape(g.gateway_id)}</td><td>{state}</td>'
        f"<td>{storage}</td><td>{held}</td><td>{silences}</td></tr>"
    )


def _silence(s: SilenceView) -> str:
    what = " ".join(f"{k} {escape(v)}" for k, v in (("rule", s.rule), ("device", s.device), ("site", s.site)) if v)
    until = datetime.fromtimestamp(s.ends_at, tz=UTC)
    return (
        f'<div class="silence">{what} · 至 until <time datetime="{until.isoformat()}">'
        f"{until.strftime('%Y-%m-%d %H:%M')} UTC</time> · {escape(s.author)}: {escape(s.reason)}</div>"
    )
