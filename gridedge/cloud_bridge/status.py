"""The gateway's presence on `gridedge/v1/status/{gateway_id}`: retained, so the centre knows at once.

`online` is published when a connection is up, `offline` with reason `stopped` on a clean stop, and
`offline` with reason `lost` is the last will the broker publishes when the gateway vanishes (crash,
power cut, cable). The will is fixed at connect time, so it carries no timestamp.

While online the status doubles as the heartbeat: `queue` says how many messages wait in the outbox,
how many the full-outbox policy dropped (per severity, since the outbox was created) and how many
the broker refused for good (`set_aside`). A centre alarms on `dropped` or `set_aside` growing.
The agent adds what an operator must see beside the events (`extra`): `storage` (ok, or why events
wait in memory), `held` (open incidents not shown to officers, by reason) and `silences` in force.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from gridedge.edge.clock import to_datetime
from gridedge.edge.event import Severity


class Presence(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class QueueReport:
    depth: int
    dropped: dict[Severity, int]
    set_aside: int


def status_payload(
    presence: Presence,
    gateway_id: str,
    version: str,
    *,
    ts: float | None = None,
    reason: str | None = None,
    queue: QueueReport | None = None,
    extra: Mapping[str, object] | None = None,
) -> bytes:
    body: dict[str, object] = {"state": presence.value, "gateway_id": gateway_id, "version": version}
    if ts is not None:
        body["ts"] = to_datetime(ts).isoformat()
    if reason is not None:
        body["reason"] = reason
    if queue is not None:
        body["queue"] = {
            "depth": queue.depth,
            "dropped": {s.value: n for s, n in sorted(queue.dropped.items())},
            "set_aside": queue.set_aside,
        }
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return json.dumps(body, separators=(",", ":")).encode()
