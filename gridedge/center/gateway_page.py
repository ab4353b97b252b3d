"""The console's gateway page: each gateway of the officer's jurisdiction, online or not, and what its
officers do not see in the case list: incidents held back (silenced, inhibited, flood), the silences in
force (who set them, why, until when) and storage trouble. Rendered from the gateways' retained status
(center/gateways.py) through templates/gateways.html."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from gridedge.center.console import Viewer, page
from gridedge.center.gateways import GatewayStatus

HELD_LABELS = {"silenced": "已屏蔽 silenced", "inhibited": "被抑制 inhibited", "flood": "限流 flood"}


def _until(ends_at: float) -> datetime:
    return datetime.fromtimestamp(ends_at, tz=UTC)


def gateways_page(viewer: Viewer, gateways: Sequence[GatewayStatus]) -> str:
    return page("gateways.html", "网关 Gateways", viewer, gateways=gateways, held_labels=HELD_LABELS, until=_until)
