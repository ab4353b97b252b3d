"""One camera's analysis, frame by frame: background, static objects, people, classes, dwell per object.

The same object runs in the camera worker process and in `gridedge vision eval`, so what is
evaluated is what the agent does. Each static object that stands in a zone long enough is one
incident of its own (`VisionEvent.object_id`): it fires after the zone's `dwell_s` on that object's
clock, and resolves `clear_s` after that object is gone, whatever else comes and goes in the zone.

Evidence may come from another frame than the analysed one: the decoded frame at full size when the
camera's `analysis_width` scales it down, or the main stream's frame when a substream is analysed
(`process(main=...)`, fetched only when an event needs it). Boxes are scaled to that frame's size; a
main-stream frame is a moment apart from the analysed one, so what to blur in it is found in it: every
region where neither the empty scene nor a tracked object shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gridedge.edge.categories import CATEGORIES
from gridedge.edge.event import EventStatus
from gridedge.vision.background import Comparison, DualBackground, Mask, Picture, difference, gain_field
from gridedge.vision.boxes import Box, iou
from gridedge.vision.config import CameraConfig, ZoneConfig
from gridedge.vision.detector import Detector, make_detector
from gridedge.vision.detector.base import Image
from gridedge.vision.dwell import Dwell, Phase, step
from gridedge.vision.events import VisionEvent
from gridedge.vision.evidence import annotate
from gridedge.vision.objects import StaticObject, StaticObjects, blobs
from gridedge.vision.people import HogPeople, sways_like_a_person
from gridedge.vision.state import CameraState, capture_reference
from gridedge.vision.zones import polygon_px, stands_in, zone_mask

ANALYSIS_WIDTH = 320
RECHECK_S = 2.0  # an object not yet classified is looked at again this often...
CHECKS = 5  # ...this many times
CLEAR_VIEW = 0.85  # share of an object's pixels showing its own look below which it is not checked (someone in front)
CROP_MARGIN = 0.5  # around an object, so the detector sees it whole and with some context
SAVE_EVERY_S = 30.0  # the learnt background and open objects are saved at least this often


@dataclass
class _Zone:
    config: ZoneConfig
    mask: Mask
    min_area: int


@dataclass
class _Incident:
    object: StaticObject
    zone: _Zone
    dwell: Dwell


class CameraPipeline:
    def __init__(self, config: CameraConfig, detector: Detector | None = None, state_dir: Path | None = None) -> None:
        self.config = config
        self.detector = detector if detector is not None or config.detector is None else make_detector(config.detector)
        self.background = DualBackground(round(config.still_s * config.analyse_fps))
        self.people = HogPeople(config.people) if config.people.hog else None
        self.state = CameraState(state_dir) if state_dir is not None else None
        self._objects: StaticObjects | None = None
        self._zones: list[_Zone] = []
        self._incidents: dict[tuple[int, str], _Incident] = {}
        self._size: tuple[int, int] | None = None
        self._saved_at = float("-inf")
        self.frames = 0
        self.detector_runs = 0
        self.detector_s = 0.0  # cumulative time in `detector.detect`
        self.last_shift = (0.0, 0.0)  # how far the last frame was shifted back onto the background
        self._main: Callable[[], Image | None] | None = None  # this frame's evidence source, if not the frame
        self._shot: Image | None = None  # what it returned, once asked
        self._same_moment = True  # the evidence shows the analysed moment (no other stream)

    @property
    def objects(self) -> list[StaticObject]:
        return self._objects.objects if self._objects is not None else []

    @property
    def camera_moved(self) -> bool:
        return self.background.camera_moved

    def _setup(self, small: Picture) -> None:
        h, w = small.shape[:2]
        self._size = (w, h)
        self._zones = [_Zone(z, zone_mask(z.polygon, w, h), max(4, int(z.min_area * w * h))) for z in self.config.zones]
        self._objects = StaticObjects(self.background, min(z.min_area for z in self._zones))
        restored = self.state.load((w, h)) if self.state is not None else None
        if restored is not None:
            self.background.start(small, restored.background)
            self._objects.restore(restored.objects)
            by_id = {o.id: o for o in restored.objects}
            for (object_id, zone_name), published in restored.fired.items():
                zone = next((z for z in self._zones if z.config.name == zone_name), None)
                if zone is not None and object_id in by_id:
                    o = by_id[object_id]
                    dwell = Dwell(Phase.FIRING, o.first_seen, o.last_present, published)
                    self._incidents[(object_id, zone_name)] = _Incident(o, zone, dwell)
        else:
            reference = self.state.reference((w, h)) if self.state is not None else None
            self.background.start(small, reference)

    def process(self, frame: Image, ts: float, main: Callable[[], Image | None] | None = None) -> list[VisionEvent]:
        """Analyse one frame taken at `ts` (seconds); return the revisions it causes. `main`, for a camera
        whose substream is analysed, returns a frame of its main stream (None: unavailable, the analysed
        frame serves), called at most once and only when an event needs evidence."""
        limit = self.config.analysis_width
        self._shot, self._same_moment = None, main is None
        if limit is not None and frame.shape[1] > limit:
            full = frame
            size = (limit, max(1, round(frame.shape[0] * limit / frame.shape[1])))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            main = main or (lambda: full)
        self._main = main
        if self.state is not None and self.state.capture_requested():
            return self.capture_reference(frame, ts)
        h, w = frame.shape[:2]
        size = (ANALYSIS_WIDTH, max(1, round(h * ANALYSIS_WIDTH / w)))
        small = _smoothed(frame, size)
        if self._size != size or self._objects is None:
            self._setup(small)
        assert self._objects is not None
        self.frames += 1
        cmp = self.background.compare(small, self._objects.keep_mask(small.shape))
        self.last_shift = cmp.shift
        new, removed = self._objects.update(cmp, ts, self.config.still_s)
        for o in self._objects.objects:
            self._classify(o, frame, ts, fresh=o in new)
        events = self._dwell(cmp, frame, ts)
        if self.state is not None and (new or removed or events or ts - self._saved_at >= SAVE_EVERY_S):
            self._save(ts)
        return events

    def capture_reference(self, frame: Image, ts: float) -> list[VisionEvent]:
        """The installer says the scene is empty now: `frame` becomes the reference, what was learnt is
        dropped, and any open incident is resolved (its cause is part of the empty scene by decree)."""
        assert self.state is not None
        capture_reference(self.state.directory, frame)
        ended = []
        for incident in self._incidents.values():
            if incident.dwell.phase is Phase.FIRING:
                started = incident.dwell.since
                ended.append(self._event(incident, EventStatus.RESOLVED, frame, started=started, ts=ts))
        self._incidents.clear()
        self._objects, self._size = None, None
        self.background = DualBackground(round(self.config.still_s * self.config.analyse_fps))
        return ended

    def _classify(self, o: StaticObject, frame: Image, ts: float, *, fresh: bool) -> None:
        """Person or not, and the detector's class: on a new object, then now and then until it fires."""
        if o.person:
            return
        if sways_like_a_person(o.sway, o.aspect, self.config.people):
            o.person = True
            return
        grown = bool(o.extra.get("grown", 0))
        due = fresh or grown or (o.checks < CHECKS and ts - float(o.extra.get("checked_at", ts)) >= RECHECK_S)
        if float(o.extra.get("present", 1.0)) < CLEAR_VIEW:
            return  # someone is passing in front: HOG would find them, not judge the object
        o.extra.pop("grown", None)
        if not due or any(i.object is o and i.dwell.phase is Phase.FIRING for i in self._incidents.values()):
            return
        o.checks += 1
        o.extra["checked_at"] = ts
        k = frame.shape[1] / ANALYSIS_WIDTH
        box = _scaled(o.box, k, k)
        if self.people is not None and self.people.finds_person(frame, box):
            o.person = True
            return
        if self.detector is not None and (fresh or o.label is None):
            label = self._detect(frame, box)
            o.label = label or o.label
            o.person = o.label == "person"

    def _detect(self, frame: Image, box: Box) -> str | None:
        """The detector's class for the object in `box` (full-frame pixels), run on a crop around it."""
        assert self.detector is not None
        h, w = frame.shape[:2]
        mx, my = CROP_MARGIN * (box[2] - box[0]) + 16, CROP_MARGIN * (box[3] - box[1]) + 16
        cx0, cy0 = max(0, int(box[0] - mx)), max(0, int(box[1] - my))
        cx1, cy1 = min(w, int(box[2] + mx)), min(h, int(box[3] + my))
        started = time.perf_counter()
        found = self.detector.detect(frame[cy0:cy1, cx0:cx1])
        self.detector_s += time.perf_counter() - started
        self.detector_runs += 1
        target = (box[0] - cx0, box[1] - cy0, box[2] - cx0, box[3] - cy0)
        scored = [(iou(target, _ints(d.box)), d.score, d.label) for d in found]
        best = max(scored, default=(0.0, 0.0, None))
        return best[2] if best[0] >= 0.3 else None

    def _counts_in(self, o: StaticObject, zone: _Zone) -> bool:
        area = int(np.count_nonzero(o.mask))
        classes = zone.config.classes
        return (
            not o.person
            and area >= zone.min_area
            and stands_in(o.box, zone.mask)
            and (not classes or o.label in classes)
        )

    def _dwell(self, cmp: Comparison, frame: Image, ts: float) -> list[VisionEvent]:
        alive = {o.id: o for o in self.objects}
        for o in alive.values():
            for zone in self._zones:
                key = (o.id, zone.config.name)
                if key not in self._incidents and self._counts_in(o, zone):
                    self._incidents[key] = _Incident(o, zone, Dwell(Phase.PENDING, o.first_seen, ts))
        events = []
        for key, incident in list(self._incidents.items()):
            o, cfg = incident.object, incident.zone.config
            there = o.id in alive and self._counts_in(o, incident.zone)
            started = incident.dwell.since
            incident.dwell, status = step(
                incident.dwell, ts, there, dwell_s=cfg.dwell_s, clear_s=cfg.clear_s, update_s=cfg.update_s
            )
            if incident.dwell.phase is Phase.CLEAR:
                del self._incidents[key]
            if status is EventStatus.FIRING:
                o.fired = True
            if status is not None:
                events.append(
                    self._event(incident, status, frame, started=started, ts=ts, moving=cmp.short, shift=cmp.shift)
                )
        return events

    def _event(
        self,
        incident: _Incident,
        status: EventStatus,
        frame: Image,
        *,
        started: float,
        ts: float,
        moving: Mask | None = None,
        shift: tuple[float, float] = (0.0, 0.0),
    ) -> VisionEvent:
        """The revision with its evidence: the object unblurred with its box and dwell; people (person
        objects and whatever moves) blurred."""
        o, cfg = incident.object, incident.zone.config
        title = f"{CATEGORIES.get(cfg.category, cfg.category)} in {cfg.name} ({self.config.id})"
        analysed_w, analysed_h = frame.shape[1], frame.shape[0]
        shot = self._evidence()
        frame = shot if shot is not None else frame
        h, w = frame.shape[:2]
        kx, ky = w / ANALYSIS_WIDTH, h / max(1, round(analysed_h * ANALYSIS_WIDTH / analysed_w))
        dx, dy = shift  # analysis boxes are on the background; the frame is where the camera points now
        box = _scaled((o.box[0] + dx, o.box[1] + dy, o.box[2] + dx, o.box[3] + dy), kx, ky)
        people: list[Box] = []
        if self.config.blur_people:
            if shot is not None and not self._same_moment:
                around = self._unexplained(shot, shift)  # whoever is there at the evidence's moment
            else:
                around = [b.box for b in blobs(moving, 30)] if moving is not None else []
            around += [p.box for p in self.objects if p.person]
            for b in around:
                if iou(b, o.box) < 0.5:  # a passer-by, not the object itself moving a little
                    mx, my = 2 + (b[2] - b[0]) // 4, 2 + (b[3] - b[1]) // 8  # a margin: privacy first
                    people.append(_scaled((b[0] - mx + dx, b[1] - my + dy, b[2] + mx + dx, b[3] + my + dy), kx, ky))
        dwell = int(ts - o.first_seen)
        label = f"#{o.id}{' ' + o.label if o.label else ''} {dwell // 60} min {dwell % 60:02d} s"
        zone_px = polygon_px(cfg.polygon, w, h)
        snapshot = annotate(frame, zone_px, [box], label=title, ts=ts, people=people, box_labels=[label])
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
            object_id=o.id,
        )

    def _evidence(self) -> Image | None:
        """The frame evidence is drawn on when it is not the analysed one (asked once per analysed frame)."""
        if self._main is not None and self._shot is None:
            self._shot = self._main()
            self._main = None
        return self._shot

    def _unexplained(self, shot: Image, shift: tuple[float, float]) -> list[Box]:
        """Boxes (analysis pixels, on the background) where `shot` shows neither the empty scene nor a
        tracked object that is not a person: people and anything else passing at the shot's moment."""
        if self.background.long is None or self._size is None or self._objects is None:
            return []
        small = _smoothed(shot, self._size)
        dx, dy = shift
        if dx or dy:  # back onto the background, as the analysed frame was
            moved = np.array([[1, 0, -dx], [0, 1, -dy]], np.float32)
            small = np.asarray(cv2.warpAffine(small, moved, self._size, borderMode=cv2.BORDER_REPLICATE), np.float32)
        tracked = self._objects.keep_mask(small.shape)
        changed = difference(small, self.background.long, gain_field(small, self.background.long, ~tracked)) > 1.0
        goods = np.zeros_like(tracked)
        for g in self.objects:
            if not g.person:
                goods[g.box[1] : g.box[3], g.box[0] : g.box[2]] |= g.mask
        return [b.box for b in blobs(changed & ~goods, 30)]

    def _save(self, ts: float) -> None:
        assert self.state is not None
        assert self.background.long is not None
        fired = {k: i.dwell.published for k, i in self._incidents.items() if i.dwell.phase is Phase.FIRING}
        self.state.save(self.background.long, self.objects, fired)
        self._saved_at = ts


def _ints(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    return int(box[0]), int(box[1]), int(box[2]), int(box[3])


def _scaled(box: tuple[float, float, float, float], kx: float, ky: float) -> Box:
    return round(box[0] * kx), round(box[1] * ky), round(box[2] * kx), round(box[3] * ky)


def _smoothed(frame: Image, size: tuple[int, int]) -> Picture:
    """`frame` at the background's size, smoothed, as the background compares it."""
    return cv2.GaussianBlur(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), (5, 5), 0).astype(np.float32)
