"""Each camera in its own process: a slow or dead camera never stalls sensor alarms or other cameras.

The worker owns the source, the pipeline and the reconnect loop (jittered backoff). A stream that
stays down `offline_after_s` is reported once as `device.offline` and resolved when frames return.
It runs at a lower OS priority than the agent (`nice`), so the alarm path has the CPU first.

Results go back over a pipe that the agent's event loop reads as data arrives (no thread of the
agent waits on a camera, however many there are): each report a length-prefixed pickle, written by
a sender thread in the worker from a bounded queue. When that queue is full the worker waits (its
own camera pauses) rather than drop an incident. About once a second the same queue carries a small
`CameraStats` (frames analysed, detector runs and time), which is dropped instead when it is full.
The pipe's end of file is the worker's death; a worker whose agent has gone stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import io
import logging
import multiprocessing as mp
import os
import pickle
import queue
import select
import struct
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
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
from gridedge.vision.source import StreamLostError, frames, still

log = logging.getLogger(__name__)

QUEUE_SIZE = 64
HEADER = struct.Struct("!I")  # each report's length, before its pickle
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


class Outbound:
    """The worker's end of the pipe: a bounded queue that a sender thread writes to the pipe, so a
    full pipe holds up this camera only, and stats can be dropped instead of waited for."""

    def __init__(self, pipe: Connection, stop: StopFlag) -> None:
        self._pipe = pipe  # kept open as long as this object lives
        self._stop = stop
        self._queue: queue.Queue[VisionEvent | CameraStats | None] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._send, name="camera-outbound", daemon=True)
        self._thread.start()

    def put(self, item: VisionEvent | CameraStats, timeout: float) -> None:
        self._queue.put(item, timeout=timeout)

    def put_nowait(self, item: VisionEvent | CameraStats) -> None:
        self._queue.put_nowait(item)

    def _send(self) -> None:
        fd = self._pipe.fileno()
        while (item := self._queue.get()) is not None:
            data = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
            try:
                _write_all(fd, HEADER.pack(len(data)) + data)
            except OSError:  # the agent has gone (its end is closed): nobody to report to
                self._stop.set()
                return

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (within `timeout`: the agent may no longer read), then stop the sender."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self._pipe.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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


def lower_priority(increment: int) -> None:
    """Run this process `increment` nice levels below the one that started it (at most 19). On Linux a
    nice value is per thread and a new thread inherits its creator's: every thread there is now (some
    libraries start theirs when imported) is set, first thing in the worker, before OpenCV and FFmpeg
    start more."""
    if increment <= 0:
        return
    level = min(19, os.getpriority(os.PRIO_PROCESS, 0) + increment)
    tasks = Path("/proc/self/task")
    for tid in [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]:
        with contextlib.suppress(ProcessLookupError):  # a thread that has ended meanwhile
            os.setpriority(os.PRIO_PROCESS, tid, level)


def _main_stream(config: CameraConfig, position_s: float) -> Image | None:
    """The main stream's frame for evidence, when a substream is analysed; None (the analysed frame
    serves) when the main stream cannot be read now."""
    try:
        return still(config.source, position_s)
    except (StreamLostError, cv2.error) as exc:
        log.warning("camera %s: no evidence frame from the main stream (%s): the analysed frame serves", config.id, exc)
        return None


def run_camera(
    raw: dict[str, Any], pipe: Connection, stop: StopFlag, backoff_max: float = 10.0, state_dir: str | None = None
) -> None:
    """Process entry point: analyse the camera until `stop` is set, reconnecting for ever; with a
    `state_dir`, what the camera learnt and its open objects survive a restart (`vision.state`)."""
    config = CameraConfig.model_validate(raw)
    lower_priority(config.nice)
    out = Outbound(pipe, stop)
    try:
        _analyse(config, out, stop, backoff_max, state_dir)
    finally:
        out.close()


def _analyse(config: CameraConfig, out: Outbound, stop: StopFlag, backoff_max: float, state_dir: str | None) -> None:
    pipeline = CameraPipeline(config, state_dir=Path(state_dir) if state_dir else None)
    stats = _StatsReporter(config.id, pipeline, out)
    backoff = Backoff(0.2, backoff_max)
    down_since: float | None = None
    offline = False
    analysed = config.analysis_source or config.source
    while not stop.is_set():
        try:
            for ts, frame, position in frames(analysed, config.analyse_fps, stop.is_set):
                if down_since is not None:
                    if offline:
                        _put(out, _offline(config, EventStatus.RESOLVED, down_since, ts), stop)
                    down_since, offline = None, False
                    backoff.reset()
                main = functools.partial(_main_stream, config, position) if config.analysis_source else None
                for event in pipeline.process(frame, ts, main):
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
    """Handle on one camera's process; `events()` yields what it reports, read by the event loop as it
    arrives (no executor thread is held); `get()` is the same for synchronous callers."""

    def __init__(self, config: CameraConfig, backoff_max: float = 10.0, state_dir: Path | None = None) -> None:
        self.config = config
        self.stats: CameraStats | None = None  # the latest the worker sent
        self.frame: bytes | None = None  # the latest preview it sent (JPEG)
        self._pipe, self._child_end = _CTX.Pipe(duplex=False)
        self._stop = StopFlag()
        self._process = _CTX.Process(
            target=run_camera,
            args=(config.model_dump(mode="json"), self._child_end, self._stop, backoff_max, str(state_dir or "")),
            name=f"camera-{config.id}",
            daemon=True,
        )

    def start(self) -> None:
        self._process.start()
        self._child_end.close()  # the worker holds the only write end: its exit ends the pipe

    def _keep(self, item: VisionEvent | CameraStats) -> VisionEvent | None:
        """Stats are kept in `self.stats` (and their preview in `self.frame`); an event is returned."""
        if isinstance(item, CameraStats):
            self.stats = item
            self.frame = item.frame or self.frame
            return None
        return item

    def get(self, timeout: float) -> VisionEvent | None:
        """The next event within `timeout` seconds (None: none came, or the worker has ended)."""
        deadline = time.monotonic() + timeout
        fd = self._pipe.fileno()
        while select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            header = _read_exactly(fd, HEADER.size)
            data = _read_exactly(fd, HEADER.unpack(header)[0]) if header is not None else None
            if data is None:
                return None
            event = self._keep(pickle.loads(data))  # noqa: S301 (from our own child process)
            if event is not None:
                return event
        return None

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    async def events(self, stop: asyncio.Event) -> AsyncIterator[VisionEvent]:
        """What the camera reports, until `stop` is set or its process has ended."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await loop.connect_read_pipe(lambda: protocol, _unowned_file(self._pipe.fileno()))
        halt = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                read = asyncio.ensure_future(_receive(reader))
                await asyncio.wait([read, halt], return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    read.cancel()
                    return
                try:
                    item = read.result()
                except asyncio.IncompleteReadError:  # end of file: the process has ended
                    return
                event = self._keep(item)
                if event is not None:
                    yield event
        finally:
            halt.cancel()
            transport.close()

    async def aclose(self, grace_s: float = 10.0) -> None:
        """`stop()` for the event loop: it waits on the process's sentinel, never on a thread."""
        self._stop.set()
        if self._process.pid is not None and not await self._ended(grace_s):
            self._process.kill()
            await self._ended(grace_s)
        self._pipe.close()

    async def _ended(self, within_s: float) -> bool:
        """Whether the process ends (and is reaped) within `within_s` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        await _readable(self._process.sentinel, within_s)
        # the sentinel is readable as the process closes its files, a moment before it can be reaped
        while self._process.is_alive() and loop.time() < deadline:  # noqa: ASYNC110 (no event to wait on)
            await asyncio.sleep(0.01)
        return not self._process.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._process.pid is not None:  # started
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._pipe.close()

    def __enter__(self) -> CameraWorker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _receive(reader: asyncio.StreamReader) -> VisionEvent | CameraStats:
    header = await reader.readexactly(HEADER.size)
    data = await reader.readexactly(HEADER.unpack(header)[0])
    item: VisionEvent | CameraStats = pickle.loads(data)  # noqa: S301 (from our own child process)
    return item


def _read_exactly(fd: int, size: int) -> bytes | None:
    """`size` bytes from `fd`, waiting for them; None at end of file."""
    data = b""
    while len(data) < size:
        try:
            chunk = os.read(fd, size - len(data))
        except BlockingIOError:
            select.select([fd], [], [])
            continue
        if not chunk:
            return None
        data += chunk
    return data


def _unowned_file(fd: int) -> io.FileIO:
    """A file object on `fd` that leaves it open when closed (the Connection owns it)."""
    return io.FileIO(fd, "rb", closefd=False)


async def _readable(sentinel: int, within_s: float) -> bool:
    """Whether `sentinel` (a process's) becomes readable within `within_s` seconds: the process ends."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(sentinel, readable)
    try:
        await asyncio.wait_for(ended, within_s)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(sentinel)
