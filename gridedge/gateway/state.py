"""What the gateway has seen lately, kept for the local API and the installer page.

The agent feeds it (readings after decoding, alerts after they are durable); it decides nothing.
Everything is bounded: one last value per device point, a ring of recent events, and per live-stream
subscriber a queue that drops that subscriber's oldest items when it cannot keep up. A slow browser
tab never slows the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gridedge.devices.binding import DeviceBinding
from gridedge.edge.alert import Alert
from gridedge.edge.clock import Clock
from gridedge.edge.reading import Reading

RECENT_EVENTS = 200
SUBSCRIBER_QUEUE = 1000


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"  # silent for longer than its profile's offline interval
    NEVER_SEEN = "never_seen"


@dataclass(slots=True)
class DeviceView:
    id: str
    profile: str
    site: str
    address: str | None
    offline_after_s: float | None
    last_seen: float | None = None
    points: dict[str, Reading] = field(default_factory=dict)


def device_views(bindings: Iterable[DeviceBinding]) -> list[DeviceView]:
    views = []
    for b in bindings:
        liveness = b.liveness
        loc = b.device.location
        offline_after = liveness.offline_after_s if liveness else None
        views.append(DeviceView(b.device.id, b.compiled.profile.id, loc.site, loc.address, offline_after))
    return views


class LocalState:
    def __init__(self, devices: Iterable[DeviceView], clock: Clock, recent: int = RECENT_EVENTS) -> None:
        self._clock = clock
        self.devices: dict[str, DeviceView] = {}
        self.set_devices(devices)
        self.events: deque[Alert] = deque(maxlen=recent)
        self.events_by_category: Counter[tuple[str, str]] = Counter()  # (category, status) -> revisions
        self.stream_dropped = 0
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def set_devices(self, devices: Iterable[DeviceView]) -> None:
        """A new inventory (hot reload): keep what was seen of devices that stay."""
        fresh = {d.id: d for d in devices}
        for device_id, view in fresh.items():
            old = self.devices.get(device_id)
            if old is not None:
                view.last_seen, view.points = old.last_seen, old.points
        self.devices = fresh

    def state_of(self, device: DeviceView) -> DeviceState:
        if device.last_seen is None:
            return DeviceState.NEVER_SEEN
        if device.offline_after_s is not None and self._clock.now() - device.last_seen > device.offline_after_s:
            return DeviceState.OFFLINE
        return DeviceState.ONLINE

    def on_readings(self, readings: Sequence[Reading]) -> None:
        now = self._clock.now()
        for r in readings:
            device = self.devices.get(r.device_id)
            if device is not None:
                device.last_seen = now
                device.points[r.point] = r
        if self._subscribers:
            for r in readings:
                self._publish({"kind": "reading", **reading_json(r)})

    def on_alerts(self, alerts: Sequence[Alert]) -> None:
        for a in alerts:
            self.events.append(a)
            self.events_by_category[(a.category, a.status.value)] += 1
            if self._subscribers:
                self._publish({"kind": "event", **alert_json(a)})

    @contextlib.contextmanager
    def subscribe(self, size: int = SUBSCRIBER_QUEUE) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        """A live feed of readings and events until the block ends."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def _publish(self, item: dict[str, Any]) -> None:
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()  # policy when full: this subscriber loses its oldest item
                self.stream_dropped += 1
            queue.put_nowait(item)


def reading_json(r: Reading) -> dict[str, Any]:
    return {
        "device_id": r.device_id,
        "point": r.point,
        "value": r.value,
        "unit": r.unit,
        "ts": r.ts,
        "quality": r.quality.value,
    }


def alert_json(a: Alert) -> dict[str, Any]:
    return {
        "event_id": a.event_id,
        "seq": a.seq,
        "status": a.status.value,
        "category": a.category,
        "severity": a.severity.value,
        "device_id": a.device_id,
        "rule_id": a.rule_id,
        "title": a.title,
        "observed_at": a.observed_at,
    }
