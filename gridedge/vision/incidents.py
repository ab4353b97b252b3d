"""Camera incidents that outlive their worker: one event_id per incident across a replaced worker
process and an agent restart, and a resolution when nothing will report it any more.

The gateway keeps, per open incident, what it needs to continue it (event_id, last seq) or to close
it (camera, zone, category, title, start) as a plain record, stored in the same outbox transaction as
the revision that changed it, and restored at start. A worker's reports are matched by incident key
(camera, zone, category and, where the worker tells objects apart, the object):
- the same violation reported firing again (a fresh worker that found it again) continues the open
  incident: nothing new is published, and later updates and the resolution carry the same event_id
  with the next seq;
- a zone's incident is resolved by its worker when the zone clears (a worker that keeps its objects
  across a restart resolves the ones it had);
- the camera's own `offline` incident lives in no worker's memory: a fresh worker reports it again
  only if it finds the camera still down. One it has not confirmed within its window
  (`offline_after_s` and the worker's start) is resolved, the camera having come back meanwhile; so
  is any incident of a camera or zone no longer configured.
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

Window = Callable[["OpenIncident"], float | None]
"""How long a fresh worker has to report an incident again before it is resolved; None: no limit (its
worker resolves it)."""


def place_of(camera_id: str, zone: str | None, category: str) -> str:
    """The incident key of a worker that does not tell objects apart: camera, zone, category."""
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

    @classmethod
    def from_record(cls, record: object) -> OpenIncident:
        if not isinstance(record, Mapping):
            raise TypeError(f"an open camera incident record must be an object, got {record!r}")
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
        self._open: dict[str, OpenIncident] = {}
        for key, record in (records or {}).items():
            try:
                incident = OpenIncident.from_record(record)
            except (KeyError, TypeError, ValueError) as exc:  # one bad record never stops the cameras
                log.error("open camera incident %s: unreadable record, left out: %r", key, exc)
                continue
            self._open[incident.key] = incident
        self._unconfirmed = dict.fromkeys(self._open, now)  # key -> since when no worker has reported it

    def open(self) -> list[OpenIncident]:
        return list(self._open.values())

    def unconfirmed(self) -> list[OpenIncident]:
        """Open incidents no worker has reported since it started (yet)."""
        return [self._open[k] for k in self._unconfirmed]

    def worker_started(self, camera_id: str, now: float) -> None:
        """A fresh worker watches `camera_id`: each open incident of it waits for its report."""
        for key, incident in self._open.items():
            if incident.camera_id == camera_id:
                self._unconfirmed[key] = now

    def revise(self, event: VisionEvent, key: str) -> Revision | None:
        """The revision a worker's report makes (None: nothing new to publish)."""
        self._unconfirmed.pop(key, None)
        current = self._open.get(key)
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

    def expire(self, now: float, window: Window) -> list[Revision]:
        """Resolve the incidents no worker reported again within their window."""
        revisions = []
        for key, since in list(self._unconfirmed.items()):
            incident = self._open[key]
            limit = window(incident)
            if limit is None or now - since < limit:
                continue
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

    def _publish(self, incident: OpenIncident, event: VisionEvent) -> Revision:
        seq = incident.seq + 1
        event = dataclasses.replace(event, started_at=incident.started_at)  # a fresh worker saw it start later
        state_key = STATE_PREFIX + incident.event_id
        if event.status is EventStatus.RESOLVED:
            self._open.pop(incident.key, None)
            self._unconfirmed.pop(incident.key, None)
            return Revision(event, incident.event_id, seq, {state_key: None})
        revised = dataclasses.replace(incident, seq=seq)
        self._open[incident.key] = revised
        return Revision(event, incident.event_id, seq, {state_key: dataclasses.asdict(revised)})
