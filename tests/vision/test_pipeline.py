"""Motion gating: the detector runs when the picture changes, and only now and then when it does not."""

from __future__ import annotations

import time

import numpy as np

from gridedge.simulators.scenes import OUTSIDE_SHOP, PAVEMENT
from gridedge.vision.config import CameraConfig, ZoneConfig
from gridedge.vision.detector import Detection, Detector
from gridedge.vision.detector.base import Image
from gridedge.vision.pipeline import RECHECK_S, CameraPipeline


def _pavement_camera(detector: Detector) -> CameraPipeline:
    zone = ZoneConfig(name="pavement", polygon=list(PAVEMENT), category=OUTSIDE_SHOP)
    return CameraPipeline(CameraConfig(id="cam", zones=[zone]), detector)


class CountingDetector:
    def __init__(self) -> None:
        self.names = ["person"]
        self.calls = 0

    def detect(self, frame: Image) -> list[Detection]:
        self.calls += 1
        return []


def test_a_still_scene_wakes_the_detector_only_to_recheck_and_motion_wakes_it_at_once() -> None:
    detector = CountingDetector()
    pipeline = _pavement_camera(detector)
    rng = np.random.default_rng(0)
    scene = np.full((360, 640, 3), 140, np.uint8)
    frames = [(i / 5, np.clip(scene + rng.integers(-2, 3, scene.shape), 0, 255).astype(np.uint8)) for i in range(100)]
    for ts, frame in frames[:50]:
        pipeline.process(frame, ts)
    still_calls = detector.calls
    assert still_calls <= 3 + 10 / RECHECK_S  # learning the background, then a recheck every RECHECK_S

    moved = frames[50][1].copy()
    moved[100:300, 200:260] = 30  # someone walks in
    pipeline.process(moved, 10.0)
    assert detector.calls == still_calls + 1


class SlowDetector(CountingDetector):
    def detect(self, frame: Image) -> list[Detection]:
        time.sleep(0.01)
        return super().detect(frame)


def test_the_pipeline_counts_frames_detector_runs_and_detector_time() -> None:
    detector = SlowDetector()
    pipeline = _pavement_camera(detector)
    frame = np.full((360, 640, 3), 140, np.uint8)
    for i in range(12):
        pipeline.process(frame, i / 5)
    assert pipeline.frames == 12
    assert pipeline.detector_runs == detector.calls >= 1
    assert 0.009 * detector.calls <= pipeline.detector_s < 0.01 * detector.calls + 0.5


class RecordingDetector(CountingDetector):
    """Finds one 'bicycle' 10 px in from the corner of whatever it is given, and records the sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, int]] = []

    def detect(self, frame: Image) -> list[Detection]:
        self.shapes.append((frame.shape[1], frame.shape[0]))
        return [Detection("bicycle", 0.9, (10.0, 10.0, 30.0, 30.0))]


def test_motion_in_a_corner_is_detected_on_that_region_and_boxes_land_where_they_are() -> None:
    detector = RecordingDetector()
    pipeline = _pavement_camera(detector)
    scene = np.full((720, 1280, 3), 140, np.uint8)
    for i in range(20):
        pipeline.process(scene, i / 5)
    detector.shapes.clear()
    moved = scene.copy()
    moved[600:680, 1100:1180] = 20  # something small arrives bottom right
    pipeline.process(moved, 3.9)  # within RECHECK_S of the last full look (at 2.0)
    ((w, h),) = detector.shapes
    assert w * h < 0.5 * 1280 * 720  # a crop around the change, not the frame
    assert pipeline.last_crop is not None
    x0, y0, _, _ = pipeline.last_crop
    assert x0 <= 1100  # the change is inside the crop
    assert y0 <= 600
    scale = 320 / 1280  # detections are kept in analysis pixels
    found = [d.box for d in pipeline._detections if d.box[0] >= (x0 + 10) * scale - 1]
    assert found[0][:2] == ((x0 + 10) * scale, (y0 + 10) * scale)

    pipeline.process(moved, 4.0 + RECHECK_S)  # the recheck looks at the whole frame again
    assert detector.shapes[-1] == (1280, 720)
