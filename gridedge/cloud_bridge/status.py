"""The gateway's presence on `gridedge/v1/status/{gateway_id}`: retained, so the centre knows at once.

`online` is published when a connection is up, `offline` with reason `stopped` on a clean stop, and
`offline` with reason `lost` is the last will the broker publishes when the gateway vanishes (crash,
power cut, cable). The will is fixed at connect time, so it carries no timestamp.
"""

from __future__ import annotations

import json
from enum import StrEnum

from gridedge.edge.clock import to_datetime


class Presence(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


def status_payload(
    presence: Presence, gateway_id: str, version: str, *, ts: float | None = None, reason: str | None = None
) -> bytes:
    body: dict[str, str] = {"state": presence.value, "gateway_id": gateway_id, "version": version}
    if ts is not None:
        body["ts"] = to_datetime(ts).isoformat()
    if reason is not None:
        body["reason"] = reason
    return json.dumps(body, separators=(",", ":")).encode()
