"""Static objects with identities: what was left, since when, and whether it is still there.

Stable static candidates (`background.DualBackground`) are grouped into blobs; a blob no object
explains becomes a new `StaticObject` with its own id, box, appearance (a template of its pixels) and
clock, unless the picture says it is not a thing at all: a thing has edges along its outline that the
empty scene lacks, the ghost of something taken away has them the other way round, and light (a
street lamp, a patch of sun) has neither; ghosts and light are learnt into the background.

Every frame each object is looked for where it stands, in the lighting-robust space: it is *present*
(its own appearance shows), *absent* (the empty scene shows), or *hidden* (neither: someone in front,
a crowd). Hidden changes nothing, so an object behind passers-by keeps its id and its clock; it is
removed only once the empty scene has shown for ABSENT_S. Something neither present nor absent that
stays still for STEADY_S is decided by its outline: the object's edges still there (its look changed
with the light) or gone (the ground there looks different now).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from gridedge.vision.background import Comparison, DualBackground, Mask, Picture, difference, grey, level
from gridedge.vision.boxes import Box

PRESENT = 0.6  # of its pixels showing its own look: the object is there
ABSENT = 0.8  # of its pixels showing the empty scene (and little moving): it is gone...
ABSENT_S = 1.0  # ...for this long
STEADY_S = 5.0  # neither present nor absent and still this long: decided by its outline
PERSON_GONE_S = 1.0  # people are bookkeeping only: forgotten as soon as they do not show
EDGE_RATIO = 1.15  # edge energy along an outline that tells a thing from a ghost
EDGE_MIN = 6.0  # mean gradient along an outline below which it is light, not a thing
TEMPLATE_RATE = 0.05  # the look of a present object follows slow changes
SWAY_RATE = 0.1
SHRINK_FRAMES = 10  # analysed frames the empty scene must show on part of an object before it is cut off
TOUCH = 6  # analysis pixels: a blob this close to an object that has not fired yet is more of it
_CLOSE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
_OPEN = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))

_3X3 = np.ones((3, 3), np.uint8)


@dataclass(frozen=True, slots=True)
class Blob:
    box: Box  # x0, y0, x1, y1 in analysis pixels
    area: int
    mask: Mask  # the blob's pixels within its box


def blobs(mask: Mask, min_area: int) -> list[Blob]:
    """Connected regions of `mask` at least `min_area` pixels large: parts of one object (the wheels and
    frame of a bicycle) are joined first, then speckle is removed."""
    clean = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, _CLOSE, iterations=2)
    clean = cv2.morphologyEx(clean, cv2.MORPH_OPEN, _OPEN)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(clean, connectivity=8)
    found = []
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= min_area:
            found.append(Blob((x, y, x + w, y + h), area, labels[y : y + h, x : x + w] == i))
    return found


@dataclass(slots=True, eq=False)
class StaticObject:
    id: int
    box: Box
    mask: Mask
    template: Picture
    first_seen: float
    last_present: float
    person: bool = False
    label: str | None = None  # the detector's class, when one runs
    absent_since: float | None = None
    hidden_since: float | None = None
    sway: float = 0.0  # how much its outline moves while it shows (people sway, goods do not)
    previous: Picture | None = None
    checks: int = 0  # person/class checks run on it
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # the gain field (per channel) when its look was taken
    fired: bool = False  # an incident was raised on it: its look and extent are fixed
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def aspect(self) -> float:
        x0, y0, x1, y1 = self.box
        return (y1 - y0) / max(1, x1 - x0)

    def patch(self, picture: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        x0, y0, x1, y1 = self.box
        return picture[y0:y1, x0:x1]


class StaticObjects:
    """The static objects of one camera, updated once per analysed frame."""

    def __init__(self, background: DualBackground, min_area: int) -> None:
        self.background = background
        self.min_area = max(4, min_area)
        self.objects: list[StaticObject] = []
        self.next_id = 1

    def keep_mask(self, shape: tuple[int, ...]) -> Mask:
        """Where tracked things stand: the long-term background is not learnt there."""
        keep = np.zeros(shape[:2], np.bool_)
        for o in self.objects:
            x0, y0, x1, y1 = o.box
            keep[y0:y1, x0:x1] |= o.mask
        return keep

    def update(self, cmp: Comparison, ts: float, still_s: float) -> tuple[list[StaticObject], list[StaticObject]]:
        """Follow the objects through one compared frame; return (new objects, removed objects)."""
        if cmp.global_change:  # every look changed at once: take the objects' looks again
            for o in self.objects:
                o.template, o.previous, o.hidden_since, o.absent_since = o.patch(cmp.frame).copy(), None, None, None
                o.gain = (1.0, 1.0, 1.0)  # the background was learnt again from this very frame
            return [], []
        removed = [o for o in self.objects if self._removed(o, cmp, ts)]
        self.objects = [o for o in self.objects if o not in removed]
        return self._new(cmp, ts, still_s), [o for o in removed if not o.person]

    def _removed(self, o: StaticObject, cmp: Comparison, ts: float) -> bool:
        patch = o.patch(cmp.frame)
        gain = level(o.patch(cmp.gain))
        n = max(1, int(np.count_nonzero(o.mask)))
        relative = np.asarray(o.patch(cmp.gain) / np.maximum(np.asarray(o.gain, np.float32), 1e-3), np.float32)
        looks = difference(patch, o.template, relative, colour=cmp.colour) <= 1.0
        present = np.count_nonzero(looks & o.mask) / n
        empty = np.count_nonzero(~o.patch(cmp.long) & o.mask) / n
        moving = np.count_nonzero(o.patch(cmp.short) & o.mask) / n
        o.extra["present"] = present  # the people check waits for a clear view of it
        shown = ~o.patch(cmp.long) & o.mask  # the empty scene shows there: part of the object has gone
        run = o.extra.get("empty_run")
        run = np.where(shown, (run if isinstance(run, np.ndarray) else 0) + 1, 0).astype(np.int16)
        o.extra["empty_run"] = run
        if 0 < empty < ABSENT and np.count_nonzero(run >= SHRINK_FRAMES) and self._shrink(o, run < SHRINK_FRAMES):
            return self._removed(o, cmp, ts)
        if present >= PRESENT:
            if present >= 0.9 and o.previous is not None:
                shaken = difference(patch, o.previous, np.ones_like(gain), colour=cmp.colour) > 1.0
                o.sway += SWAY_RATE * (np.count_nonzero(shaken & o.mask) / n - o.sway)
            o.previous = patch.copy()
            o.last_present, o.absent_since, o.hidden_since = ts, None, None
            still = (o.mask & ~o.patch(cmp.short)).astype(np.uint8)
            cv2.accumulateWeighted(patch, o.template, TEMPLATE_RATE, mask=still)
            return False
        if o.person:
            return ts - o.last_present >= PERSON_GONE_S
        if empty >= ABSENT and moving < 0.2:
            o.absent_since = o.absent_since if o.absent_since is not None else ts
            return ts - o.absent_since >= ABSENT_S
        o.absent_since = None
        if moving > 0.1:
            o.hidden_since = None  # still being walked past: wait
            return False
        o.hidden_since = o.hidden_since if o.hidden_since is not None else ts
        if ts - o.hidden_since < STEADY_S:
            return False
        o.hidden_since = None
        now = outline(grey(cmp.frame) / level(cmp.gain), o.box, o.mask)
        if now >= float(o.extra.get("edges", 0.0)) / 2:
            o.template, o.previous = patch.copy(), None  # its outline is there: the light changed its look
            o.gain = _mean_gain(o.patch(cmp.gain), o.mask)
            return False
        region = np.zeros(cmp.frame.shape[:2], np.bool_)
        x0, y0, x1, y1 = o.box
        region[y0:y1, x0:x1] = o.mask
        self.background.absorb(cmp.frame, region, cmp.gain)  # the ground looks different there now
        return True

    def _new(self, cmp: Comparison, ts: float, still_s: float) -> list[StaticObject]:
        candidates = cmp.static & ~cv2.dilate(self.keep_mask(cmp.static.shape).astype(np.uint8), _3X3).astype(np.bool_)
        if not candidates.any():
            return []
        assert self.background.long is not None
        fresh = []
        found = blobs(candidates, self.min_area)
        levelled = grey(cmp.frame) / level(cmp.gain) if found else cmp.frame
        empty = grey(self.background.long) if found else cmp.frame
        for b in found:
            x0, y0, x1, y1 = b.box
            patch = cmp.frame[y0:y1, x0:x1]
            mask = b.mask & cmp.static[y0:y1, x0:x1] if np.count_nonzero(b.mask & cmp.static[y0:y1, x0:x1]) else b.mask
            here = outline(levelled, b.box, b.mask)
            kind = what_is(here, outline(empty, b.box, b.mask))
            if kind != "thing":
                region = np.zeros(cmp.static.shape, np.bool_)
                region[y0:y1, x0:x1] = b.mask
                self.background.absorb(cmp.frame, region, cmp.gain)
                continue
            near = next((o for o in self.objects if not o.fired and _touch(o.box, b.box, TOUCH)), None)
            if near is not None:  # another part of something already seen (a person's legs after the head)
                self._grow(near, b.box, mask, cmp)
                continue
            o = StaticObject(self.next_id, b.box, mask, patch.copy(), ts - still_s, ts)
            o.gain = _mean_gain(cmp.gain[y0:y1, x0:x1], mask)
            o.extra["edges"] = here
            self.next_id += 1
            self.objects.append(o)
            fresh.append(o)
        return fresh

    def _shrink(self, o: StaticObject, keep: Mask) -> bool:
        """Drop the part of an object where the empty scene has shown for a while (the person who wheeled
        the bike in has left it); False if too little would remain."""
        mask = o.mask & keep
        if np.count_nonzero(mask) < self.min_area:
            return False
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        bx, by = o.box[0], o.box[1]
        o.box = (bx + x0, by + y0, bx + x1, by + y1)
        o.mask = mask[y0:y1, x0:x1]
        o.template = o.template[y0:y1, x0:x1].copy()
        o.previous = None
        o.extra["empty_run"] = np.zeros(o.mask.shape, np.int16)
        return True

    def _grow(self, o: StaticObject, box: Box, mask: Mask, cmp: Comparison) -> None:
        """Add a blob (`mask` within `box`) to `o`, and any other object not yet reported that it now
        touches: one thing seen in parts becomes one object, with the oldest clock."""
        self._join(o, box, mask, cmp)
        for other in [p for p in self.objects if p is not o and not p.fired and _touch(p.box, o.box, TOUCH)]:
            self._join(o, other.box, other.mask, cmp)
            o.first_seen = min(o.first_seen, other.first_seen)
            o.person = o.person or other.person
            self.objects.remove(other)

    def _join(self, o: StaticObject, box: Box, mask: Mask, cmp: Comparison) -> None:
        x0, y0 = min(o.box[0], box[0]), min(o.box[1], box[1])
        x1, y1 = max(o.box[2], box[2]), max(o.box[3], box[3])
        union = np.zeros((y1 - y0, x1 - x0), np.bool_)
        union[o.box[1] - y0 : o.box[3] - y0, o.box[0] - x0 : o.box[2] - x0] |= o.mask
        union[box[1] - y0 : box[3] - y0, box[0] - x0 : box[2] - x0] |= mask
        o.box, o.mask, o.previous = (x0, y0, x1, y1), union, None
        o.extra.pop("empty_run", None)
        o.extra["grown"] = 1  # look again: a person whose torso was found first is found whole now
        o.template = cmp.frame[y0:y1, x0:x1].copy()
        o.gain = _mean_gain(cmp.gain[y0:y1, x0:x1], union)

    def restore(self, objects: Iterable[StaticObject]) -> None:
        self.objects = list(objects)
        self.next_id = max([self.next_id, *(o.id + 1 for o in self.objects)])


def _mean_gain(gain: Picture, mask: Mask) -> tuple[float, float, float]:
    b, g, r = (float(v) for v in gain[mask].mean(axis=0)) if mask.any() else (1.0, 1.0, 1.0)
    return b, g, r


def _touch(a: Box, b: Box, gap: int) -> bool:
    return a[0] - gap < b[2] and b[0] - gap < a[2] and a[1] - gap < b[3] and b[1] - gap < a[3]


def outline_energy(picture: Picture, mask: Mask) -> float:
    """Mean gradient magnitude on the band along the outline of `mask` in a grey `picture`."""
    m = mask.astype(np.uint8)
    band = np.asarray(cv2.dilate(m, _3X3, iterations=1), np.bool_) & ~np.asarray(
        cv2.erode(m, _3X3, iterations=1), np.bool_
    )
    if not band.any():
        return 0.0
    gx = cv2.Sobel(picture, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(picture, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.sqrt(gx * gx + gy * gy)[band].mean())


def outline(picture: Picture, box: Box, mask: Mask, pad: int = 4) -> float:
    """`outline_energy` of an object (`mask` within `box`) in a whole grey picture, with room around it."""
    h, w = picture.shape[:2]
    x0, y0, x1, y1 = box
    px0, py0, px1, py1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    padded = np.zeros((py1 - py0, px1 - px0), np.bool_)
    padded[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0] = mask
    return outline_energy(np.ascontiguousarray(picture[py0:py1, px0:px1]), padded)


def what_is(here: float, there: float) -> str:
    """'thing', 'ghost' or 'light', from the edges along a blob's outline in the frame (`here`) and in
    the empty scene (`there`): a thing brings an outline, a ghost takes one away, light (and shade)
    changes what is inside without either."""
    if max(here, there) < EDGE_MIN:
        return "light"
    if there >= EDGE_RATIO * here:
        return "ghost"
    return "thing" if here >= EDGE_RATIO * there else "light"
