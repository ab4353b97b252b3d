"""Cameras in the agent: one worker process per camera, and what they report as grid events.

The workers decide (dwell, inertia, offline); this module only gives each incident a stable
event_id and a rising seq, and queues the snapshot ahead of the event that references it
(`cloud_bridge.evidence`), both in one outbox write.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from gridedge.cloud_bridge.evidence import event_with_evidence, snapshot_of
from gridedge.cloud_bridge.message import OutMessage, event_message
from gridedge.edge.categories import national_code
from gridedge.edge.clock import to_datetime
from gridedge.edge.event import EventStatus, Evidence, GridEvent, Severity, Source
from gridedge.edge.grid import GridCell, Location
from gridedge.edge.reconnect import Backoff
from gridedge.vision.config import CameraConfig
from gridedge.vision.events import VisionEvent, incident_key
from gridedge.vision.state import request_capture
from gridedge.vision.worker import CameraStats, CameraWorker

log = logging.getLogger(__name__)

SEVERITY = {"fire_safety.ebike_indoor": Severity.MAJOR}
"""Severity per category for camera incidents; anything else is minor."""


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
        state_dir: Path | None = None,
    ) -> None:
        self._state_dir = state_dir  # each camera keeps its reference and what it learnt in cameras/<id>/
        self.workers = [self._worker(c) for c in cameras]
        self._gateway_id = gateway_id
        self._grid = grid
        self._location = location
        self._incidents: dict[str, tuple[str, int]] = {}
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

    def messages(self, event: VisionEvent) -> list[OutMessage]:
        key = incident_key(event)  # one incident per static object
        if event.status is EventStatus.FIRING or key not in self._incidents:
            digest = hashlib.sha256(f"{self._gateway_id}/{key}/{event.started_at}".encode()).hexdigest()[:24]
            self._incidents[key] = (f"cam-{digest}", 0)
        event_id, seq = self._incidents[key]
        self._incidents[key] = (event_id, seq + 1)
        if event.status is EventStatus.RESOLVED:
            del self._incidents[key]
        camera = next(w.config for w in self.workers if w.config.id == event.camera_id)
        location = camera.location or self._location
        return to_messages(
            event, event_id=event_id, seq=seq + 1, gateway_id=self._gateway_id, grid=self._grid, location=location
        )

    async def run(self, stop: asyncio.Event, emit: Callable[[list[OutMessage]], Awaitable[None]]) -> None:
        """Start every camera's process, forward what they report until `stop`, then stop them."""
        try:
            async with asyncio.TaskGroup() as tg:
                for i, w in enumerate(self.workers):
                    tg.create_task(self._supervise(i, stop, emit), name=f"camera-{w.config.id}")
        finally:
            for w in self.workers:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(w.stop)

    async def _supervise(
        self, index: int, stop: asyncio.Event, emit: Callable[[list[OutMessage]], Awaitable[None]]
    ) -> None:
        """Forward one camera's reports; a worker process that dies is replaced, after a backoff."""
        backoff = Backoff(1.0, 60.0)
        while not stop.is_set():
            worker = self.workers[index]
            worker.start()
            async for event in worker.events(stop):
                await emit(self.messages(event))
            if stop.is_set():
                return
            log.error("camera %s: worker process died; starting a new one", worker.config.id)
            await asyncio.to_thread(worker.stop)
            self.workers[index] = self._worker(worker.config)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff.next_delay())
