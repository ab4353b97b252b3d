"""Cameras in the agent: one worker process per camera, and what they report as grid events.

The workers decide (dwell, inertia, offline); this module gives each incident a stable event_id and
a rising seq that outlive a replaced worker and an agent restart (`vision.incidents`: the open
incidents are records in the outbox's state table, changed in the same transaction as the revision),
and queues the snapshot ahead of the event that references it (`cloud_bridge.evidence`), all in one
outbox write. Workers are read, started and stopped on the event loop (`CameraWorker.events`,
`aclose`): however many cameras run, none holds a thread of the loop's default executor, which the
rest of the agent borrows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from gridedge.cloud_bridge.evidence import event_with_evidence, snapshot_of
from gridedge.cloud_bridge.message import OutMessage, event_message
from gridedge.edge.categories import national_code
from gridedge.edge.clock import to_datetime
from gridedge.edge.event import Evidence, GridEvent, Severity, Source
from gridedge.edge.grid import GridCell, Location
from gridedge.edge.reconnect import Backoff
from gridedge.vision.config import CameraConfig
from gridedge.vision.events import VisionEvent, incident_key
from gridedge.vision.incidents import CameraIncidents, OpenIncident, Revision
from gridedge.vision.state import request_capture
from gridedge.vision.worker import CameraStats, CameraWorker

log = logging.getLogger(__name__)

SEVERITY = {"fire_safety.ebike_indoor": Severity.MAJOR}
"""Severity per category for camera incidents; anything else is minor."""
WORKER_START_S = 20.0
"""Margin for a fresh worker to start (a spawned process loading OpenCV and its detector) and to find
its camera down (its first reconnect backoffs)."""
EXPIRE_EVERY_S = 1.0

Emit = Callable[[list[OutMessage], Mapping[str, object | None]], Awaitable[None]]
"""Store these messages and state changes in one outbox transaction."""


def confirmation_window(camera: CameraConfig | None, incident: OpenIncident) -> float | None:
    """How long a fresh worker has to report an open incident again before it is resolved: the
    camera's offline incident (no worker remembers it) within `offline_after_s` and its start; an
    incident of a camera or zone no longer configured at once; a zone's incident never (its worker
    resolves it when the zone clears)."""
    if camera is None:
        return 0.0
    if incident.zone is None:
        return camera.offline_after_s + WORKER_START_S
    if not any(z.name == incident.zone and z.category == incident.category for z in camera.zones):
        return 0.0
    return None


def to_messages(
    event: VisionEvent, *, event_id: str, seq: int, gateway_id: str, grid: GridCell, location: Location
) -> list[OutMessage]:
    """Pure mapping of one worker report to the evidence publication (if any) and the event revision."""
    severity = SEVERITY.get(event.category, Severity.MINOR)
    snapshot = snapshot_of(event.snapshot, width=event.width, height=event.height) if event.snapshot else None
    grid_event = GridEvent(
        event_id=event_id,
        seq=seq,
        status=event.status,
        dedup_key=incident_key(event),
        category=event.category,
        national_code=national_code(event.category),
        severity=severity,
        title=event.title,
        grid=grid,
        location=location,
        source=Source(gateway_id=gateway_id, camera_id=event.camera_id, zone=event.zone),
        started_at=to_datetime(event.started_at),
        observed_at=to_datetime(event.observed_at),
        ended_at=to_datetime(event.ended_at) if event.ended_at is not None else None,
        evidence=Evidence(snapshot=snapshot),
    )
    if not event.snapshot:
        return [event_message(grid_event)]
    return event_with_evidence(grid_event, event.snapshot)


class CameraFeed:
    def __init__(
        self,
        cameras: list[CameraConfig],
        gateway_id: str,
        grid: GridCell,
        location: Location,
        *,
        open_incidents: Mapping[str, object] | None = None,
        state_dir: Path | None = None,
    ) -> None:
        """`open_incidents`: the open-incident records a previous run stored (vision.incidents); `state_dir`:
        where each camera keeps its reference and what it learnt (cameras/<id>/)."""
        self._state_dir = state_dir
        self.workers = [self._worker(c) for c in cameras]
        self._gateway_id = gateway_id
        self._grid = grid
        self._location = location
        self.incidents = CameraIncidents(gateway_id, open_incidents, now=time.time())
        self._stats: dict[str, CameraStats] = {}
        self._frames: dict[str, bytes] = {}  # kept across a replaced worker

    def _folder(self, camera_id: str) -> Path | None:
        return self._state_dir / "cameras" / camera_id if self._state_dir is not None else None

    def _worker(self, config: CameraConfig) -> CameraWorker:
        return CameraWorker(config, state_dir=self._folder(config.id))

    def capture_reference(self, camera_id: str) -> bool:
        """Ask the camera to take its next frame as the empty scene; False for an unknown camera."""
        folder = self._folder(camera_id)
        if camera_id not in self.ids() or folder is None:
            return False
        request_capture(folder)
        return True

    def ids(self) -> list[str]:
        """The configured cameras, in the config's order."""
        return [w.config.id for w in self.workers]

    def stats(self) -> dict[str, CameraStats]:
        """The latest counters each camera's worker sent (a replaced worker counts from zero again)."""
        for w in list(self.workers):
            if w.stats is not None:
                self._stats[w.config.id] = w.stats
        return dict(self._stats)

    def frame(self, camera_id: str) -> bytes | None:
        """The latest preview (JPEG, zones drawn) the camera's worker sent, if any yet."""
        for w in self.workers:
            if w.config.id == camera_id and w.frame is not None:
                self._frames[camera_id] = w.frame
        return self._frames.get(camera_id)

    def revise(self, event: VisionEvent) -> Revision | None:
        """The revision a worker's report makes, if any (see vision.incidents): one incident per static object."""
        return self.incidents.revise(event, incident_key(event))

    def messages(self, revision: Revision) -> list[OutMessage]:
        camera = self._camera(revision.event.camera_id)
        location = camera.location if camera is not None and camera.location else self._location
        return to_messages(
            revision.event,
            event_id=revision.event_id,
            seq=revision.seq,
            gateway_id=self._gateway_id,
            grid=self._grid,
            location=location,
        )

    def expire(self, now: float) -> list[Revision]:
        """Resolutions of the incidents no fresh worker reported again in time (see `confirmation_window`)."""
        revisions = self.incidents.expire(now, lambda i: confirmation_window(self._camera(i.camera_id), i))
        for r in revisions:
            log.info(
                "camera %s: %s %s resolved, no worker reports it any more",
                r.event.camera_id,
                r.event_id,
                r.event.category,
            )
        return revisions

    def _camera(self, camera_id: str) -> CameraConfig | None:
        return next((w.config for w in self.workers if w.config.id == camera_id), None)

    async def run(self, stop: asyncio.Event, emit: Emit) -> None:
        """Start every camera's process, forward what they report until `stop`, then stop them."""
        try:
            async with asyncio.TaskGroup() as tg:
                for i, w in enumerate(self.workers):
                    tg.create_task(self._supervise(i, stop, emit), name=f"camera-{w.config.id}")
                tg.create_task(self._expire(stop, emit), name="camera-incidents")
        finally:  # all at once, on the event loop: no executor thread waits for a camera
            await asyncio.gather(*(w.aclose() for w in self.workers), return_exceptions=True)

    async def _emit(self, revisions: list[Revision], emit: Emit) -> None:
        for revision in revisions:
            await emit(self.messages(revision), revision.state)

    async def _expire(self, stop: asyncio.Event, emit: Emit) -> None:
        while not stop.is_set():
            await self._emit(self.expire(time.time()), emit)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), EXPIRE_EVERY_S)

    async def _supervise(self, index: int, stop: asyncio.Event, emit: Emit) -> None:
        """Forward one camera's reports; a worker process that dies is replaced, after a backoff."""
        backoff = Backoff(1.0, 60.0)
        while not stop.is_set():
            worker = self.workers[index]
            self.incidents.worker_started(worker.config.id, time.time())
            worker.start()
            async for event in worker.events(stop):
                revision = self.revise(event)
                if revision is not None:
                    await self._emit([revision], emit)
            if stop.is_set():
                return
            log.error("camera %s: worker process died; starting a new one", worker.config.id)
            await worker.aclose()
            self.workers[index] = self._worker(worker.config)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff.next_delay())
