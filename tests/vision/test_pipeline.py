"""The pipeline on drawn frames: static objects with ids and clocks, one incident per object, the
detector and the people check only on static candidates."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from gridedge.edge.event import EventStatus
from gridedge.vision.config import CameraConfig, OpenCvDnnDetector, PeopleConfig, ZoneConfig
from gridedge.vision.detector import Detection
from gridedge.vision.detector.base import Image
from gridedge.vision.events import VisionEvent
from gridedge.vision.pipeline import CameraPipeline
from tests.vision.test_background import street

FPS = 5.0
PAVEMENT = [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    colour: tuple[int, int, int]
    since: float
    until: float = 1e9


def frames(seconds: float, boxes: list[Box], walkers: bool = True) -> Iterator[tuple[float, Image]]:
    """640x360 frames of a street (textured paving) with boxes put down and taken away, and a walker
    crossing every few seconds in front of everything."""
    base = cv2.resize(street(), (640, 360))
    rng = np.random.default_rng(1)
    for i in range(int(seconds * FPS)):
        t = i / FPS
        img = base.copy()
        for b in boxes:
            if b.since <= t < b.until:
                cv2.rectangle(img, (b.x, b.y), (b.x + b.w, b.y + b.h), b.colour, -1)
                cv2.rectangle(img, (b.x, b.y), (b.x + b.w, b.y + b.h), (30, 30, 30), 2)
        if walkers:
            x = int((t % 4) / 4 * 760) - 60  # one walker every 4 s, right across the boxes
            cv2.rectangle(img, (x, 200), (x + 30, 350), (60, 70, 160), -1)
        img += rng.normal(0, 2, img.shape[:2]).astype(np.float32)[..., None]
        yield t, np.clip(img, 0, 255).astype(np.uint8)


def run(pipeline: CameraPipeline, seconds: float, boxes: list[Box], walkers: bool = True) -> list[VisionEvent]:
    return [e for ts, frame in frames(seconds, boxes, walkers) for e in pipeline.process(frame, ts)]


def camera(dwell_s: float = 8.0, clear_s: float = 2.0, classes: list[str] | None = None) -> CameraConfig:
    zone = ZoneConfig(
        name="pavement",
        polygon=PAVEMENT,
        category="street_order.outside_shop_operation",
        dwell_s=dwell_s,
        clear_s=clear_s,
        classes=classes or [],
    )
    # a class zone needs a detector that knows the class: the test's own stands in for the configured one
    detector = OpenCvDnnDetector(model="/nonexistent.onnx", names=["person", "bicycle"]) if classes else None
    return CameraConfig(id="cam", zones=[zone], analyse_fps=FPS, people=PeopleConfig(hog=False), detector=detector)


def test_each_object_has_its_own_clock_and_its_removal_resolves_only_its_incident() -> None:
    first = Box(100, 260, 60, 50, (40, 100, 170), since=1, until=30)
    second = Box(400, 250, 70, 60, (150, 60, 60), since=6, until=40)
    events = run(CameraPipeline(camera()), 46, [first, second])
    fired = [e for e in events if e.status is EventStatus.FIRING]
    resolved = [e for e in events if e.status is EventStatus.RESOLVED]
    seen = [(e.status, e.observed_at, e.object_id) for e in events]
    assert len(fired) == 2, seen
    assert len(resolved) == 2, seen
    a, b = fired
    assert a.object_id != b.object_id
    assert 1 + 8 <= a.observed_at <= 1 + 8 + 3  # its own dwell: walkers crossing it do not reset the clock
    assert 6 + 8 <= b.observed_at <= 6 + 8 + 3
    end_a = next(e for e in resolved if e.object_id == a.object_id)
    end_b = next(e for e in resolved if e.object_id == b.object_id)
    assert 30 <= end_a.observed_at <= 30 + 2 + 3  # the first taken away: only its incident ends
    assert 40 <= end_b.observed_at <= 40 + 2 + 3
    assert end_a.started_at == a.started_at


def test_goods_down_for_less_than_the_dwell_are_not_reported() -> None:
    assert run(CameraPipeline(camera()), 30, [Box(100, 260, 60, 50, (40, 100, 170), since=2, until=7)]) == []


class CountingDetector:
    """Says 'bicycle' for whatever dark thing is in the crop it is given, and counts its calls."""

    def __init__(self) -> None:
        self.names = ["person", "bicycle"]
        self.calls = 0

    def detect(self, frame: Image) -> list[Detection]:
        self.calls += 1
        dark = np.argwhere(frame.max(axis=2) < 90)
        if not len(dark):
            return []
        (y0, x0), (y1, x1) = dark.min(axis=0), dark.max(axis=0)
        return [Detection("bicycle", 0.9, (float(x0), float(y0), float(x1), float(y1)))]


def test_the_detector_runs_on_static_candidates_only_and_a_class_zone_fires_on_its_class() -> None:
    detector = CountingDetector()
    pipeline = CameraPipeline(camera(classes=["bicycle"]), detector)
    run(pipeline, 12, [])
    assert detector.calls == 0  # walkers never stand still: nothing to look at
    events = run(pipeline, 24, [Box(300, 260, 80, 60, (20, 20, 20), since=0)])
    assert 1 <= detector.calls <= 6
    assert pipeline.detector_runs == detector.calls
    assert pipeline.detector_s > 0
    assert [e.status for e in events] == [EventStatus.FIRING]
    (o,) = [o for o in pipeline.objects if not o.person]
    assert o.label == "bicycle"


def test_a_tall_object_that_sways_is_a_person_and_never_fires() -> None:
    pipeline = CameraPipeline(camera(dwell_s=6))
    base = cv2.resize(street(), (640, 360))
    events = []
    for i in range(int(20 * FPS)):
        t = i / FPS
        img = base.copy()
        dx = round(3 * np.sin(t * 2.0))  # standing, shifting weight
        cv2.rectangle(img, (300 + dx, 180), (340 + dx, 330), (60, 70, 160), -1)
        cv2.circle(img, (320 + dx, 165), 14, (90, 120, 170), -1)
        events += pipeline.process(img.astype(np.uint8), t)
    assert events == []
    assert all(o.person for o in pipeline.objects)  # whatever of it stood still is known as a person
