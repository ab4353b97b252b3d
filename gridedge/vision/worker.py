"""Each camera in its own process: a slow or dead camera never stalls sensor alarms or other cameras.

The worker owns the source, the pipeline and the reconnect loop (jittered backoff). A stream that
stays down `offline_after_s` is reported once as `device.offline` and resolved when frames return.
Results go back over a bounded queue; when it is full the worker waits (its own camera pauses)
rather than drop an incident. About once a second the same queue carries a small `CameraStats`
(frames analysed, detector runs and time), which is dropped instead when the queue is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing as mp
import queue
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from gridedge.edge.event import EventStatus
from gridedge.edge.reconnect import Backoff
from gridedge.vision.config import CameraConfig
from gridedge.vision.detector.base import Image
from gridedge.vision.events import CAMERA_OFFLINE, VisionEvent
from gridedge.vision.evidence import preview
from gridedge.vision.pipeline import CameraPipeline
from gridedge.vision.source import StreamLostError, frames

log = logging.getLogger(__name__)

QUEUE_SIZE = 64
STATS_INTERVAL_S = 1.0
FRAME_EVERY_S = 5.0  # how often the installer page's preview of a camera is refreshed
_CTX = mp.get_context("spawn")


class StopFlag:
    """Set by the agent, polled by the worker. Lock-free shared memory on purpose: a worker killed
    while waiting on a multiprocessing Event leaves its condition variable owed a wake-up, and the
    agent's next `set()` would block for ever."""

    def __init__(self) -> None:
        self._flag = _CTX.RawValue(ctypes.c_bool, False)

    def set(self) -> None:
        self._flag.value = True

    def is_set(self) -> bool:
        return bool(self._flag.value)

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.is_set() and time.monotonic() < deadline:
            time.sleep(min(0.05, seconds))


@dataclass(frozen=True, slots=True)
class CameraStats:
    """One worker's counters since it started, and its analysis rate over the last interval."""

    camera_id: str
    frames: int
    detector_runs: int
    detector_s: float
    fps: float
    at: float
    frame: bytes | None = None  # every FRAME_EVERY_S: the latest frame with its zones, for the installer page
    camera_moves: int = 0  # times it pointed too far from where its zones were drawn: they may no longer fit
    people_checks: int = 0  # HOG runs on static objects, and their time
    people_check_s: float = 0.0


class _StatsReporter:
    def __init__(self, camera_id: str, pipeline: CameraPipeline, out: Any, interval: float = STATS_INTERVAL_S) -> None:
        self._camera_id = camera_id
        self._zones = pipeline.config.zones
        self._frame_at = float("-inf")
        self._pipeline = pipeline
        self._out = out
        self._interval = interval
        self._last = (time.monotonic(), 0)
        self._fps = 0.0

    def report(self, *, force: bool = False, frame: Image | None = None) -> None:
        """Send the counters once an interval has passed, or at once if `force` (the rate then stays that of
        the last full interval), with a preview of `frame` every FRAME_EVERY_S; never waits on a full queue."""
        now = time.monotonic()
        since, frames = self._last
        p = self._pipeline
        if now - since >= self._interval:
            self._fps = (p.frames - frames) / (now - since)
            self._last = (now, p.frames)
        elif not force:
            return
        shot = None
        if frame is not None and now - self._frame_at >= FRAME_EVERY_S:
            shot, self._frame_at = preview(frame, [(z.name, z.polygon) for z in self._zones]), now
        hog = p.people
        stats = CameraStats(
            self._camera_id,
            p.frames,
            p.detector_runs,
            p.detector_s,
            self._fps,
            time.time(),
            shot,
            p.background.moves,
            hog.runs if hog is not None else 0,
            hog.seconds if hog is not None else 0.0,
        )
        with contextlib.suppress(queue.Full):
            self._out.put_nowait(stats)


def _put(out: Any, event: VisionEvent, stop: StopFlag) -> None:
    while not stop.is_set():
        with contextlib.suppress(queue.Full):
            out.put(event, timeout=0.5)
            return


def _offline(config: CameraConfig, status: EventStatus, since: float, now: float) -> VisionEvent:
    return VisionEvent(
        camera_id=config.id,
        status=status,
        category=CAMERA_OFFLINE,
        zone=None,
        title=f"Camera {config.id} offline",
        started_at=since,
        observed_at=now,
        ended_at=now if status is EventStatus.RESOLVED else None,
    )


def run_camera(
    raw: dict[str, Any], out: Any, stop: StopFlag, backoff_max: float = 10.0, state_dir: str | None = None
) -> None:
    """Process entry point: analyse the camera until `stop` is set, reconnecting for ever; with a
    `state_dir`, what the camera learnt and its open objects survive a restart (`vision.state`)."""
    config = CameraConfig.model_validate(raw)
    pipeline = CameraPipeline(config, state_dir=Path(state_dir) if state_dir else None)
    stats = _StatsReporter(config.id, pipeline, out)
    backoff = Backoff(0.2, backoff_max)
    down_since: float | None = None
    offline = False
    while not stop.is_set():
        try:
            for ts, frame in frames(config.source, config.analyse_fps, stop.is_set):
                if down_since is not None:
                    if offline:
                        _put(out, _offline(config, EventStatus.RESOLVED, down_since, ts), stop)
                    down_since, offline = None, False
                    backoff.reset()
                for event in pipeline.process(frame, ts):
                    _put(out, event, stop)
                stats.report(frame=frame)
        except (StreamLostError, cv2.error) as exc:  # a corrupt stream is a dropped stream
            stats.report(force=down_since is None)  # the last counts of this session
            now = time.time()
            if down_since is None:
                down_since = now
                log.warning("camera %s: %s", config.id, exc)
            if not offline and now - down_since >= config.offline_after_s:
                offline = True
                _put(out, _offline(config, EventStatus.FIRING, down_since, now), stop)
            stop.wait(backoff.next_delay())


class CameraWorker:
    """Handle on one camera's process; `events()` yields what it reports, without blocking the loop."""

    def __init__(self, config: CameraConfig, backoff_max: float = 10.0, state_dir: Path | None = None) -> None:
        self.config = config
        self.stats: CameraStats | None = None  # the latest the worker sent
        self.frame: bytes | None = None  # the latest preview it sent (JPEG)
        self._queue: Any = _CTX.Queue(QUEUE_SIZE)
        self._stop = StopFlag()
        self._process = _CTX.Process(
            target=run_camera,
            args=(config.model_dump(mode="json"), self._queue, self._stop, backoff_max, str(state_dir or "")),
            name=f"camera-{config.id}",
            daemon=True,
        )

    def start(self) -> None:
        self._process.start()

    def get(self, timeout: float) -> VisionEvent | None:
        """The next event within `timeout` seconds; stats met on the way are kept in `self.stats`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                item: VisionEvent | CameraStats = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if isinstance(item, CameraStats):
                self.stats = item
                self.frame = item.frame or self.frame
                continue
            return item

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    async def events(self, stop: asyncio.Event) -> AsyncIterator[VisionEvent]:
        """What the camera reports, until `stop` is set or its process has died."""
        while not stop.is_set():
            event = await asyncio.to_thread(self.get, 0.5)
            if event is not None:
                yield event
            elif not self.alive:
                return

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._process.pid is not None:  # started
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._queue.close()
        self._queue.join_thread()

    def __enter__(self) -> CameraWorker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
