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
RECHECK_S = 2.0  # the detector looks at the whole frame at least this often (a parked object does not move)
CROP_MARGIN = 0.25  # around what changed, so an object only partly moving is seen whole
MIN_CROP = 48  # analysis pixels: a detector needs some context around a small change
CROP_AT_MOST = 0.5  # of the frame; larger changes are detected on the whole frame


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
        self.last_crop: tuple[int, int, int, int] | None = None  # frame pixels of the last partial run
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
            self._detect(frame, None if ts - self._detected_at >= RECHECK_S else self._gate.region, grey.shape)
            self._detected_at = ts if self.last_crop is None else self._detected_at
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

    def _detect(self, frame: Image, region: tuple[int, int, int, int] | None, analysed: tuple[int, ...]) -> None:
        """Run the detector on the part of the frame that changed (`region`, in analysis pixels, grown by
        a margin so an object half in it is whole), or on the whole frame for a recheck or when most of
        it changed. Detections outside a partial run's crop are kept: what stands still there is still there."""
        assert self.detector is not None
        h, w = frame.shape[:2]
        k = w / analysed[1]  # analysis pixels -> frame pixels
        crop = None
        if region is not None:
            x0, y0, x1, y1 = region
            mx, my = max(CROP_MARGIN * (x1 - x0), MIN_CROP / 2), max(CROP_MARGIN * (y1 - y0), MIN_CROP / 2)
            cx0, cy0 = max(0, int((x0 - mx) * k)), max(0, int((y0 - my) * k))
            cx1, cy1 = min(w, int((x1 + mx) * k)), min(h, int((y1 + my) * k))
            if (cx1 - cx0) * (cy1 - cy0) <= CROP_AT_MOST * w * h:
                crop = (cx0, cy0, cx1, cy1)
        self.last_crop = crop
        ox, oy = (crop[0], crop[1]) if crop else (0, 0)
        started = time.perf_counter()
        found = self.detector.detect(frame[crop[1] : crop[3], crop[0] : crop[2]] if crop else frame)
        self.detector_s += time.perf_counter() - started
        self.detector_runs += 1
        s = 1 / k
        fresh = [Detection(d.label, d.score, _place(d.box, ox, oy, s)) for d in found]
        if crop is not None:
            inside = _place((0, 0, crop[2] - crop[0], crop[3] - crop[1]), ox, oy, s)
            fresh += [d for d in self._detections if not _covers(inside, _ints(d.box))]
        self._detections = fresh

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


def _place(box: tuple[float, float, float, float], ox: float, oy: float, s: float) -> tuple[float, float, float, float]:
    """A box found in a crop at (ox, oy) of the frame, in analysis pixels (`s` per frame pixel)."""
    return (box[0] + ox) * s, (box[1] + oy) * s, (box[2] + ox) * s, (box[3] + oy) * s


def _ints(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    return int(box[0]), int(box[1]), int(box[2]), int(box[3])


def _scaled(box: tuple[float, float, float, float], k: float) -> Box:
    return round(box[0] * k), round(box[1] * k), round(box[2] * k), round(box[3] * k)


def _covers(outer: tuple[float, float, float, float], inner: tuple[int, int, int, int]) -> bool:
    """Whether most of `inner` lies inside `outer` (a static blob that is a person standing still)."""
    ix = max(0.0, min(outer[2], inner[2]) - max(outer[0], inner[0]))
    iy = max(0.0, min(outer[3], inner[3]) - max(outer[1], inner[1]))
    area = max(1, (inner[2] - inner[0]) * (inner[3] - inner[1]))
    return ix * iy / area >= 0.6
