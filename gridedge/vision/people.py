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

from gridedge.vision.boxes import Box
from gridedge.vision.config import PeopleConfig
from gridedge.vision.detector.base import Image

COVER = 0.6  # of the object's box inside a HOG detection centred on it: the object is that person
HOG_HEIGHT = 256  # crops (twice an object's height) are scaled to this: people from 128 to 256 px tall


def sways_like_a_person(sway: float, aspect: float, config: PeopleConfig) -> bool:
    return sway >= config.sway and aspect >= config.min_aspect


class HogPeople:
    def __init__(self, config: PeopleConfig) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
        self._threshold = config.hog_threshold
        self.runs = 0
        self.seconds = 0.0

    def finds_person(self, frame: Image, box: Box) -> bool:
        """Whether HOG finds a person covering most of `box` (full-frame pixels). The crop is twice the
        box's height, so a person of whom only the torso was static is found whole."""
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = box
        bh, bw = max(1, y1 - y0), max(1, x1 - x0)
        half = max(0.8 * bw, 0.5 * bh)
        cx = (x0 + x1) / 2
        cx0, cx1 = max(0, int(cx - half)), min(w, int(cx + half))
        cy0, cy1 = max(0, int(y0 - 0.5 * bh)), min(h, int(y1 + 0.5 * bh))
        if cx1 - cx0 < 8 or cy1 - cy0 < 16:
            return False
        scale = HOG_HEIGHT / (cy1 - cy0)
        crop = cv2.resize(frame[cy0:cy1, cx0:cx1], (max(72, round((cx1 - cx0) * scale)), HOG_HEIGHT))
        started = time.perf_counter()
        found, weights = self._hog.detectMultiScale(crop, winStride=(8, 8), padding=(16, 16), scale=1.1)
        self.seconds += time.perf_counter() - started
        self.runs += 1
        for (fx, fy, fw, fh), weight in zip(
            np.asarray(found).reshape(-1, 4), np.asarray(weights).reshape(-1), strict=False
        ):
            if weight < self._threshold:
                continue
            px0, py0 = cx0 + fx / scale, cy0 + fy / scale
            px1, py1 = px0 + fw / scale, py0 + fh / scale
            inside = max(0.0, min(px1, x1) - max(px0, x0)) * max(0.0, min(py1, y1) - max(py0, y0))
            # the person is the object (HOG's window has a margin around them), not someone beside it
            if inside >= COVER * bw * bh and x0 <= (px0 + px1) / 2 <= x1:
                return True
        return False
