"""One camera's analysis, frame by frame: motion gate, static objects or detections per zone, dwell.

The same object runs in the camera worker process and in `gridedge vision eval`, so what is
evaluated is what the agent does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2

from gridedge.edge.categories import CATEGORIES
from gridedge.edge.event import EventStatus
from gridedge.vision.config import CameraConfig, ZoneConfig
from gridedge.vision.detector import Detection, Detector, make_detector
from gridedge.vision.detector.base import Image
from gridedge.vision.dwell import Dwell, step
from gridedge.vision.events import VisionEvent
from gridedge.vision.evidence import Box, annotate
from gridedge.vision.motion import Mask, MotionGate, Stillness
from gridedge.vision.static_objects import StaticObjects, blobs
from gridedge.vision.tracker import Track, Tracker
from gridedge.vision.zones import polygon_px, stands_in, zone_mask

ANALYSIS_WIDTH = 320
STILL_FRACTION = 0.3  # of a detected box that must be still for it to count as parked
RECHECK_S = 2.0  # with no motion, the detector still looks this often (a parked object does not move)


@dataclass
class _Zone:
    config: ZoneConfig
    mask: Mask
    dwell: Dwell
    boxes: list[tuple[int, int, int, int]]
    tracker: Tracker
    tracks: list[Track]


class CameraPipeline:
    def __init__(self, config: CameraConfig, detector: Detector | None = None) -> None:
        self.config = config
        self.detector = detector if detector is not None or config.detector is None else make_detector(config.detector)
        self._gate = MotionGate()
        self._stillness = Stillness()
        self._static = StaticObjects()
        self._zones: list[_Zone] = []
        self._size: tuple[int, int] | None = None
        self._detections: list[Detection] = []
        self._detected_at = float("-inf")
        self.frames = 0
        self.detector_runs = 0
        self.detector_s = 0.0  # cumulative time in `detector.detect`

    def _setup(self, width: int, height: int) -> None:
        self._size = (width, height)
        self._zones = [
            _Zone(z, zone_mask(z.polygon, width, height), Dwell(), [], Tracker(), []) for z in self.config.zones
        ]

    def process(self, frame: Image, ts: float) -> list[VisionEvent]:
        """Analyse one frame taken at `ts` (seconds); return the revisions it causes."""
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (ANALYSIS_WIDTH, max(1, round(h * ANALYSIS_WIDTH / w))), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (5, 5), 0)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        if self._size != (grey.shape[1], grey.shape[0]):
            self._setup(grey.shape[1], grey.shape[0])
        self.frames += 1
        changed = self._gate.changed(grey)
        moving = self._stillness.update(grey, ts)
        static = self._static.new_pixels(small) & self._stillness.still_for(ts, self.config.still_s)
        if self.detector is not None and (changed or ts - self._detected_at >= RECHECK_S):
            self.detector_runs += 1
            self._detected_at = ts
            scale = ANALYSIS_WIDTH / w
            started = time.perf_counter()
            found = self.detector.detect(frame)
            self.detector_s += time.perf_counter() - started
            self._detections = [
                Detection(d.label, d.score, (d.box[0] * scale, d.box[1] * scale, d.box[2] * scale, d.box[3] * scale))
                for d in found
            ]
        events: list[VisionEvent] = []
        for zone in self._zones:
            zone.boxes = self._occupants(zone, static)
            zone.tracks = zone.tracker.update(zone.boxes, ts)
            started = zone.dwell.since
            zone.dwell, status = step(
                zone.dwell,
                ts,
                bool(zone.boxes),
                dwell_s=zone.config.dwell_s,
                clear_s=zone.config.clear_s,
                update_s=zone.config.update_s,
            )
            if status is not None:
                events.append(self._event(zone, status, frame, moving, started=started, ts=ts))
        return events

    def _occupants(self, zone: _Zone, static: Mask) -> list[tuple[int, int, int, int]]:
        """Boxes of what occupies the zone: detections of its classes that stand still in it, or,
        with no classes configured, any new static object in it."""
        if zone.config.classes:
            found = []
            for d in self._detections:
                x0, y0, x1, y1 = (int(v) for v in d.box)
                region = static[max(0, y0) : y1, max(0, x0) : x1]
                if (
                    d.label in zone.config.classes
                    and stands_in(d.box, zone.mask)
                    and region.size
                    and region.mean() >= STILL_FRACTION
                ):
                    found.append((x0, y0, x1, y1))
            return found
        min_area = int(zone.config.min_area * zone.mask.size)
        people = [d.box for d in self._detections if d.label == "person"]
        return [b.box for b in blobs(static & zone.mask, min_area) if not any(_covers(p, b.box) for p in people)]

    def _event(
        self, zone: _Zone, status: EventStatus, frame: Image, moving: Mask, *, started: float, ts: float
    ) -> VisionEvent:
        cfg = zone.config
        title = f"{CATEGORIES.get(cfg.category, cfg.category)} in {cfg.name} ({self.config.id})"
        h, w = frame.shape[:2]
        k = w / ANALYSIS_WIDTH
        boxes = [_scaled(b, k) for b in zone.boxes]
        people: list[Box] = []
        if self.config.blur_people:  # moving regions stand in for people when no person detector runs
            people += [_scaled(b.box, k) for b in blobs(moving, 50)]
            people += [_scaled(d.box, k) for d in self._detections if d.label == "person"]
        labels = [f"#{t.id} {(ts - t.first_seen) / 60:.0f} min" for t in zone.tracks]
        zone_px = polygon_px(cfg.polygon, w, h)
        snapshot = annotate(frame, zone_px, boxes, label=title, ts=ts, people=people, box_labels=labels)
        return VisionEvent(
            camera_id=self.config.id,
            status=status,
            category=cfg.category,
            zone=cfg.name,
            title=title,
            started_at=started,
            observed_at=ts,
            ended_at=ts if status is EventStatus.RESOLVED else None,
            snapshot=snapshot,
            width=w,
            height=h,
        )


def _scaled(box: tuple[float, float, float, float], k: float) -> Box:
    return round(box[0] * k), round(box[1] * k), round(box[2] * k), round(box[3] * k)


def _covers(outer: tuple[float, float, float, float], inner: tuple[int, int, int, int]) -> bool:
    """Whether most of `inner` lies inside `outer` (a static blob that is a person standing still)."""
    ix = max(0.0, min(outer[2], inner[2]) - max(outer[0], inner[0]))
    iy = max(0.0, min(outer[3], inner[3]) - max(outer[1], inner[1]))
    area = max(1, (inner[2] - inner[0]) * (inner[3] - inner[1]))
    return ix * iy / area >= 0.6
