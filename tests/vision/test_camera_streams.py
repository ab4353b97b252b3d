"""Cameras beside the alarm path: no camera holds a thread the agent needs, workers run niced below the
agent, and a camera analyses its low-resolution stream while its evidence comes from the main one."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from gridedge.cloud_bridge.message import OutMessage
from gridedge.edge.event import EventStatus, GridEvent
from gridedge.edge.grid import GridCell, Location
from gridedge.gateway.cameras import CameraFeed
from gridedge.vision.config import CameraConfig, PeopleConfig, ZoneConfig
from gridedge.vision.detector import Detection
from gridedge.vision.detector.base import Image
from gridedge.vision.events import CAMERA_OFFLINE
from gridedge.vision.pipeline import CameraPipeline
from gridedge.vision.worker import CameraWorker
from tests.vision.test_pipeline import Box, frames

GRID = GridCell.model_validate(
    {level: {"code": f"{level[0].upper()}1"} for level in ("district", "street", "community", "grid")}
)
PAVEMENT = [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]
GOODS = Box(100, 260, 60, 50, (40, 100, 170), since=1.0)  # in 640x360 pixels, out from the first second
MAIN_TAG = (1160, 40, 1260, 140)  # a green square only the main stream shows (its pixels, 1280x720)
PASSER_BY = (900, 380, 960, 680)  # someone in a striped coat, in the main stream only


def zone(dwell_s: float = 2.0) -> ZoneConfig:
    return ZoneConfig(name="pavement", polygon=PAVEMENT, category="street_order.x", dwell_s=dwell_s, clear_s=1.0)


def camera(camera_id: str, source: Path, **settings: object) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": camera_id,
            "source": str(source),
            "zones": [zone()],
            "still_s": 1.0,
            "people": PeopleConfig(hog=False),
            **settings,
        }
    )


def main_frame(frame: Image) -> Image:
    """The main stream's picture of `frame` (a 640x360 street): twice the size, with what only it shows."""
    big = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR)
    x0, y0, x1, y1 = MAIN_TAG
    cv2.rectangle(big, (x0, y0), (x1, y1), (0, 255, 0), -1)
    x0, y0, x1, y1 = PASSER_BY
    cv2.rectangle(big, (x0, y0), (x1, y1), (20, 20, 90), -1)  # a dark red coat with thin white stripes
    for k in range(y0, y1, 16):
        cv2.rectangle(big, (x0, k), (x1, k + 2), (250, 250, 250), -1)
    return big


def video(path: Path, pictures: list[Image], fps: float = 5.0) -> Path:
    """A Motion JPEG file of `pictures` (OpenCV's FFmpeg backend writes it; every frame a key frame)."""
    h, w = pictures[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    for picture in pictures:
        writer.write(picture)
    writer.release()
    return path


def street(seconds: float) -> list[Image]:
    return [frame for _, frame in frames(seconds, [GOODS], walkers=False)]


def nice_of_every_thread(pid: int) -> list[int]:
    values = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        values.append(int(stat[stat.rindex(")") + 2 :].split()[16]))  # field 19, after "pid (comm) "
    return values


def red_box(shot: Image) -> tuple[int, int, int, int]:
    """Where the drawn (pure red) object box is: its edges are the rows and columns with long red runs
    (the label above it has short ones)."""
    red = (shot[:, :, 2] > 200) & (shot[:, :, 1] < 60) & (shot[:, :, 0] < 60)
    red[:60] = False  # the title and time
    rows, cols = np.nonzero(red.sum(axis=1) >= 80)[0], np.nonzero(red.sum(axis=0) >= 60)[0]
    return int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())


def sharpness(picture: Image) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


async def test_many_cameras_leave_the_default_executor_free_and_their_events_arrive(tmp_path: Path) -> None:
    """Six cameras on an executor of one thread: every camera's incident arrives and work handed to
    the executor meanwhile starts at once (each camera used to hold a thread for half a second at a
    time, so work queued behind six of them). On stop every worker process ends. Each worker runs
    ten nice levels below the agent."""
    clip = video(tmp_path / "street.avi", street(12.0))
    cameras = [camera(f"cam-{i}", clip) for i in range(6)]
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1))
    feed = CameraFeed(cameras, "gw-1", GRID, Location(site="Shop street"))
    fired: set[str] = set()

    async def emit(out: list[OutMessage], _: Mapping[str, object | None]) -> None:
        event = GridEvent.from_json(out[-1].payload)
        if event.status is EventStatus.FIRING and event.source.camera_id is not None:
            fired.add(event.source.camera_id)

    stop = asyncio.Event()
    waits: list[float] = []
    nice: dict[str, list[int]] = {}
    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(feed.run(stop, emit))
        try:
            async with asyncio.timeout(90):
                while len(fired) < len(cameras):
                    asked = time.monotonic()
                    waits.append(await asyncio.to_thread(time.monotonic) - asked)  # until a thread takes it
                    for w in feed.workers:
                        if w.config.id in fired and w.pid is not None:
                            nice[w.config.id] = nice_of_every_thread(w.pid)
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
        async with asyncio.timeout(20):
            await run
    assert fired == {c.id for c in cameras}
    assert len(waits) > 20
    waits.sort()
    assert waits[int(0.9 * len(waits))] < 0.1, f"executor work waited up to {waits[-1]:.2f} s"
    assert not any(w.alive for w in feed.workers)
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    assert nice
    assert all(set(values) == {expected} for values in nice.values()), nice


def test_a_workers_nice_value_is_its_setting(tmp_path: Path) -> None:
    config = camera("cam-1", tmp_path / "missing.avi", offline_after_s=0.3, nice=3)
    with CameraWorker(config, backoff_max=0.3) as worker:
        down = worker.get(timeout=30)
        assert down is not None
        assert down.category == CAMERA_OFFLINE
        assert worker.pid is not None
        values = nice_of_every_thread(worker.pid)
    assert set(values) == {min(19, os.getpriority(os.PRIO_PROCESS, 0) + 3)}


def test_the_substream_is_analysed_and_the_evidence_comes_from_the_main_stream(tmp_path: Path) -> None:
    """The worker analyses a 640x360 stream; the firing's snapshot is the main stream's 1280x720 frame
    of that moment (its own marks show), the object's box drawn in main-stream pixels around the
    goods, and the passer-by only the main stream shows is blurred in it."""
    pictures = street(30.0)
    sub = video(tmp_path / "sub.avi", pictures)
    main = video(tmp_path / "main.avi", [main_frame(p) for p in pictures])
    config = camera("cam-1", main, analysis_source=str(sub), zones=[zone(dwell_s=3.0)])
    with CameraWorker(config) as worker:
        fired = worker.get(timeout=40)
    assert fired is not None
    assert fired.status is EventStatus.FIRING
    assert fired.snapshot is not None
    assert (fired.width, fired.height) == (1280, 720)
    shot = cv2.imdecode(np.frombuffer(fired.snapshot, np.uint8), cv2.IMREAD_COLOR)
    assert shot is not None
    assert shot.shape == (720, 1280, 3)
    x0, y0, x1, y1 = MAIN_TAG
    assert (shot[y0 + 30 : y1 - 30, x0 + 30 : x1 - 30].mean(axis=(0, 1)) > (0, 200, 0)).all()  # the main stream's
    goods = (2 * GOODS.x, 2 * GOODS.y, 2 * (GOODS.x + GOODS.w), 2 * (GOODS.y + GOODS.h))
    box = red_box(shot)
    assert all(abs(a - b) <= 16 for a, b in zip(box, goods, strict=True)), (box, goods)
    original = main_frame(pictures[0])
    px0, py0, px1, py1 = PASSER_BY
    assert sharpness(shot[py0 + 20 : py1 - 20, px0 + 5 : px1 - 5]) < 0.3 * sharpness(
        original[py0 + 20 : py1 - 20, px0 + 5 : px1 - 5]
    )


class CropSizes:
    """A detector that finds nothing and notes the size of each crop it is given."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.widths: list[int] = []

    def detect(self, frame: Image) -> list[Detection]:
        self.widths.append(frame.shape[1])
        return []


def test_a_camera_without_a_substream_is_analysed_scaled_down_with_full_size_evidence() -> None:
    """`analysis_width` 320 on a 1280x720 camera: the detector's crops come from the scaled frame, the
    evidence is the decoded frame at full size with the box in its pixels."""
    detector = CropSizes()
    pipeline = CameraPipeline(camera("cam-1", Path("unused"), analysis_width=320), detector=detector)
    fired = None
    for ts, frame in frames(8.0, [GOODS], walkers=False):
        big = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR)
        for event in pipeline.process(big, ts):
            if event.status is EventStatus.FIRING:
                fired = event
    assert fired is not None
    assert fired.snapshot is not None
    assert detector.widths
    assert max(detector.widths) <= 120
    assert (fired.width, fired.height) == (1280, 720)
    shot = cv2.imdecode(np.frombuffer(fired.snapshot, np.uint8), cv2.IMREAD_COLOR)
    assert shot is not None
    assert shot.shape == (720, 1280, 3)
    goods = (2 * GOODS.x, 2 * GOODS.y, 2 * (GOODS.x + GOODS.w), 2 * (GOODS.y + GOODS.h))
    box = red_box(shot)
    assert all(abs(a - b) <= 16 for a, b in zip(box, goods, strict=True)), (box, goods)


def test_an_analysis_stream_without_a_main_stream_is_refused() -> None:
    with pytest.raises(ValidationError, match="analysis_source needs source"):
        CameraConfig(id="cam-1", analysis_source="rtsp://10.0.0.12/stream2", zones=[zone()])
