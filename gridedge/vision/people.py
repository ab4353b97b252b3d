"""People are never goods: cues that a static object is a person standing still.

Three cues, cheapest first: its outline sways (goods do not move once put down) while it is taller
than wide; OpenCV's HOG people detector (Dalal-Triggs, shipped with opencv-python: no weights to
download) on the object's crop of the full frame; and a `person` from the configured detector. HOG
runs only on static candidates, once when they appear and again while they have not fired, so its
cost is a few runs per object rather than per frame; the pipeline counts its runs and time.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from gridedge.vision.config import PeopleConfig
from gridedge.vision.detector.base import Image
from gridedge.vision.tracker import Box

HOG_HEIGHT = 160  # crops are scaled so a person fills the 64x128 window with room around it


def sways_like_a_person(sway: float, aspect: float, config: PeopleConfig) -> bool:
    return sway >= config.sway and aspect >= config.min_aspect


class HogPeople:
    def __init__(self, config: PeopleConfig) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor.getDefaultPeopleDetector())
        self._threshold = config.hog_threshold
        self.runs = 0
        self.seconds = 0.0

    def finds_person(self, frame: Image, box: Box) -> bool:
        """Whether HOG finds a person covering most of `box` (full-frame pixels)."""
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = box
        bh = max(1, y1 - y0)
        half = max((x1 - x0) / 2, bh / 4) * 1.3
        cx = (x0 + x1) / 2
        cx0, cx1 = max(0, int(cx - half)), min(w, int(cx + half))
        cy0, cy1 = max(0, int(y0 - 0.15 * bh)), min(h, int(y1 + 0.15 * bh))
        if cx1 - cx0 < 8 or cy1 - cy0 < 16:
            return False
        crop = frame[cy0:cy1, cx0:cx1]
        scale = HOG_HEIGHT / (cy1 - cy0)
        crop = cv2.resize(crop, (max(72, round((cx1 - cx0) * scale)), HOG_HEIGHT), interpolation=cv2.INTER_LINEAR)
        started = time.perf_counter()
        found, weights = self._hog.detectMultiScale(crop, winStride=(8, 8), padding=(16, 16), scale=1.1)
        self.seconds += time.perf_counter() - started
        self.runs += 1
        weights = np.asarray(weights).reshape(-1)
        return any(
            weight >= self._threshold and fh >= 0.5 * HOG_HEIGHT
            for (_, _, _, fh), weight in zip(np.asarray(found).reshape(-1, 4), weights, strict=False)
        )
