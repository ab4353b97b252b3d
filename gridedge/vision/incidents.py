"""Camera incidents that outlive their worker: one event_id per incident across a replaced worker
process and an agent restart, and a resolution when the scene cleared while nobody watched.

A worker's dwell state dies with it. The gateway keeps, per open incident, what it needs to continue
it (event_id, last seq) or to close it (camera, zone, category, title, start) as a plain record,
stored in the same outbox transaction as the revision that changed it. A fresh worker knows nothing
of these incidents, so each one is *unconfirmed* from the worker's start:
- when the worker reports the same violation firing (same camera, zone and category), it has found
  what the gateway already reported: the incident is adopted, nothing new is published, and the
  worker's later updates and resolution continue the same event_id and seq;
- when it has not within the incident's confirmation window (the time a worker needs to see the
  violation again: dwell, stillness and clearing for a zone, going offline for the camera itself),
  the scene cleared meanwhile and the incident is resolved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gridedge.edge.event import EventStatus
from gridedge.vision.events import VisionEvent

log = logging.getLogger(__name__)

STATE_PREFIX = "camera-incident/"
"""Keys of the open-incident records in the agent's state table, one per event_id."""


def place_of(camera_id: str, zone: str | None, category: str) -> str:
    """Where a violation is: what a fresh worker's report is matched on."""
    return f"{camera_id}/{zone or '-'}/{category}"


@dataclass(frozen=True, slots=True)
class OpenIncident:
    event_id: str
    seq: int  # the last revision published
    key: str  # the reporting worker's incident key
    camera_id: str
    zone: str | None
    category: str
    title: str
    started_at: float

    @property
    def place(self) -> str:
        return place_of(self.camera_id, self.zone, self.category)

    @classmethod
    def from_record(cls, record: object) -> OpenIncident:
        if not isinstance(record, Mapping):
            raise ValueError(f"an open camera incident record must be an object, got {record!r}")
        return cls(**{f.name: record[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True, slots=True)
class Revision:
    """A revision to publish, and the state change to store in the same transaction."""

    event: VisionEvent
    event_id: str
    seq: int
    state: dict[str, object | None]


class CameraIncidents:
    def __init__(self, gateway_id: str, records: Mapping[str, object] | None = None, now: float = 0.0) -> None:
        """`records`: the state table's open-incident records (key -> record), as a previous run left them."""
        self._gateway_id = gateway_id
        restored = []
        for key, record in (records or {}).items():
            try:
                restored.append(OpenIncident.from_record(record))
            except (KeyError, TypeError, ValueError) as exc:  # one bad record never stops the cameras
                log.error("open camera incident %s: unreadable record, left out: %r", key, exc)
        self._open = {i.key: i for i in restored}
        self._unconfirmed = {i.key: now for i in restored}  # key -> since when no worker has confirmed it

    def open(self) -> list[OpenIncident]:
        return list(self._open.values())

    def unconfirmed(self) -> list[OpenIncident]:
        """Open incidents no worker has reported since its start (yet)."""
        return [self._open[k] for k in self._unconfirmed]

    def worker_started(self, camera_id: str, now: float) -> None:
        """A fresh worker watches `camera_id`: each open incident of it waits for its confirmation."""
        for key, incident in self._open.items():
            if incident.camera_id == camera_id:
                self._unconfirmed[key] = now

    def revise(self, event: VisionEvent, key: str) -> Revision | None:
        """The revision a worker's report makes (None: nothing new to publish)."""
        current = self._open.get(key) or self._adopt(event, key)
        self._unconfirmed.pop(key, None)
        if current is None:
            if event.status is EventStatus.RESOLVED:
                return None  # nothing open here to resolve
            digest = hashlib.sha256(f"{self._gateway_id}/{key}/{event.started_at}".encode()).hexdigest()[:24]
            current = OpenIncident(
                f"cam-{digest}", 0, key, event.camera_id, event.zone, event.category, event.title, event.started_at
            )
            event = dataclasses.replace(event, status=EventStatus.FIRING)
        elif event.status is EventStatus.FIRING:
            return None  # found again what the centre already has: the incident simply goes on
        return self._publish(current, event)

    def expire(self, now: float, window: Callable[[OpenIncident], float]) -> list[Revision]:
        """Resolve the incidents no worker confirmed within their window: the scene cleared meanwhile."""
        revisions = []
        for key, since in list(self._unconfirmed.items()):
            incident = self._open[key]
            if now - since < window(incident):
                continue
            del self._unconfirmed[key]
            cleared = VisionEvent(
                camera_id=incident.camera_id,
                status=EventStatus.RESOLVED,
                category=incident.category,
                zone=incident.zone,
                title=incident.title,
                started_at=incident.started_at,
                observed_at=now,
                ended_at=now,
            )
            revisions.append(self._publish(incident, cleared))
        return revisions

    def _adopt(self, event: VisionEvent, key: str) -> OpenIncident | None:
        """An unconfirmed incident at the report's place, now known under the fresh worker's key."""
        place = place_of(event.camera_id, event.zone, event.category)
        for old_key in self._unconfirmed:
            incident = self._open[old_key]
            if incident.place == place:
                del self._unconfirmed[old_key], self._open[old_key]
                adopted = dataclasses.replace(incident, key=key)
                self._open[key] = adopted
                return adopted
        return None

    def _publish(self, incident: OpenIncident, event: VisionEvent) -> Revision:
        seq = incident.seq + 1
        state_key = STATE_PREFIX + incident.event_id
        if event.status is EventStatus.RESOLVED:
            self._open.pop(incident.key, None)
            self._unconfirmed.pop(incident.key, None)
            return Revision(event, incident.event_id, seq, {state_key: None})
        revised = dataclasses.replace(incident, seq=seq)
        self._open[incident.key] = revised
        return Revision(event, incident.event_id, seq, {state_key: dataclasses.asdict(revised)})
