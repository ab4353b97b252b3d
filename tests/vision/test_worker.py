"""A camera in its own process: a stream that drops and returns is reconnected without a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

from gridedge.edge.event import EventStatus
from gridedge.simulators.scenes import CORRIDOR, EBIKE_INDOOR, OUTSIDE_SHOP, Scene, write_clip
from gridedge.vision.config import CameraConfig, PeopleConfig, ZoneConfig
from gridedge.vision.events import CAMERA_OFFLINE
from gridedge.vision.state import capture_reference
from gridedge.vision.worker import CameraWorker
from tests.vision.mjpeg import MjpegCamera


def test_a_stream_that_drops_and_returns_is_reconnected_without_restart(tmp_path: Path) -> None:
    empty = Scene("empty", "corridor", 3.0, (), {"corridor": CORRIDOR}, {"corridor": EBIKE_INDOOR}, fps=10.0)
    video = write_clip(empty, tmp_path / "recorded")
    source = tmp_path / "camera.avi"
    zone = ZoneConfig(name="corridor", polygon=list(CORRIDOR), category=EBIKE_INDOOR)
    config = CameraConfig(id="cam-1", source=str(source), zones=[zone], offline_after_s=1.0)

    with CameraWorker(config, backoff_max=0.3) as worker:
        down = worker.get(timeout=30)  # nothing to open yet
        assert down is not None
        assert (down.category, down.status, down.camera_id) == (CAMERA_OFFLINE, EventStatus.FIRING, "cam-1")

        shutil.copy(video, tmp_path / "partial.avi")
        (tmp_path / "partial.avi").replace(source)  # the stream comes back
        back = worker.get(timeout=30)
        assert back is not None
        assert (back.category, back.status) == (CAMERA_OFFLINE, EventStatus.RESOLVED)
        assert back.started_at == down.started_at

        source.unlink()  # the 3 s recording ends and the camera stays away: offline again, same worker
        again = worker.get(timeout=30)
        assert again is not None
        assert (again.category, again.status) == (CAMERA_OFFLINE, EventStatus.FIRING)


def test_an_http_camera_that_goes_away_and_comes_back_is_reconnected(tmp_path: Path) -> None:
    camera = MjpegCamera()
    camera.start()
    zone = ZoneConfig(name="pavement", polygon=[(0, 0.6), (1, 0.6), (1, 1), (0, 1)], category=OUTSIDE_SHOP)
    config = CameraConfig(id="cam-2", source=camera.url, zones=[zone], offline_after_s=1.0)
    try:
        with CameraWorker(config, backoff_max=0.3) as worker:
            assert worker.get(timeout=3) is None  # streaming: nothing to report
            camera.stop()
            down = worker.get(timeout=30)
            assert down is not None
            assert (down.category, down.status) == (CAMERA_OFFLINE, EventStatus.FIRING)
            camera.start()  # same port
            back = worker.get(timeout=30)
            assert back is not None
            assert (back.category, back.status) == (CAMERA_OFFLINE, EventStatus.RESOLVED)
    finally:
        camera.stop()


def _video(path: Path, seconds: float, goods_until: float) -> Path:
    """A 10 fps recording of the pavement with goods out from the first frame until `goods_until`."""
    import cv2

    from tests.vision.test_pipeline import Box, frames

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (640, 360))
    goods = Box(100, 260, 60, 50, (40, 100, 170), since=0, until=goods_until)
    for _, frame in frames(seconds * 2, [goods], walkers=False):  # frames() draws at 5 fps: played at 10, twice as fast
        writer.write(frame)
    writer.release()
    return path


def test_a_worker_killed_hard_comes_back_with_its_objects_no_second_alarm_and_the_removal_resolves(
    tmp_path: Path,
) -> None:
    import os
    import signal

    from tests.vision.test_pipeline import frames

    state = tmp_path / "cameras" / "cam-1"
    capture_reference(state, next(frames(1, [], walkers=False))[1])  # the installer's empty scene
    out = _video(tmp_path / "out.avi", 30, goods_until=1e9)
    taken = _video(tmp_path / "taken.avi", 30, goods_until=3)
    zone = ZoneConfig(
        name="pavement", polygon=[(0, 0.5), (1, 0.5), (1, 1), (0, 1)], category=OUTSIDE_SHOP, dwell_s=3, clear_s=1
    )
    config = CameraConfig(id="cam-1", source=str(out), zones=[zone], still_s=1.0, people=PeopleConfig(hog=False))

    first = CameraWorker(config, state_dir=state)
    first.start()
    try:
        fired = first.get(timeout=30)
        assert fired is not None
        assert fired.status is EventStatus.FIRING
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.stop()

    with CameraWorker(config.model_copy(update={"source": str(taken)}), state_dir=state) as second:
        resolved = second.get(timeout=30)
    assert resolved is not None
    assert resolved.status is EventStatus.RESOLVED  # no second FIRING for the same goods
    assert (resolved.object_id, resolved.started_at) == (fired.object_id, fired.started_at)
