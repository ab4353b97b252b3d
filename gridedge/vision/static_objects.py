"""Class-agnostic static objects: what differs from the empty scene and has stopped moving.

"Goods" and "rack" are not classes any stock model knows, so the pavement zone is watched for
*something new that stays still*. The reference picture of the empty scene follows slow lighting
changes only where the scene matches it, so a parked object never melts into the background (the
Frigate complaint of objects that vanish or re-alert); it leaves the mask when it is taken away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from gridedge.vision.motion import Mask

Colour = np.ndarray[Any, Any]

NEW_THRESHOLD = 24  # per colour channel: grey alone loses a brown carton on grey paving
LEARN_RATE = 0.05
_CLOSE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
_OPEN = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))


@dataclass(frozen=True, slots=True)
class Blob:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in analysis pixels
    area: int


class StaticObjects:
    def __init__(self) -> None:
        self._reference: np.ndarray[Any, np.dtype[np.float32]] | None = None

    def new_pixels(self, image: Colour) -> Mask:
        """Pixels that differ from the empty scene; the reference learns the rest (lighting drift)."""
        current = image.astype(np.float32)
        if self._reference is None or self._reference.shape != current.shape:
            self._reference = current.copy()
        diff = cv2.absdiff(current, self._reference).max(axis=2) > NEW_THRESHOLD
        cv2.accumulateWeighted(current, self._reference, LEARN_RATE, mask=(~diff).astype(np.uint8))
        return np.asarray(diff, np.bool_)


def blobs(mask: Mask, min_area: int) -> list[Blob]:
    """Connected regions of `mask` at least `min_area` pixels large: parts of one object (the wheels and
    frame of a bicycle) are joined first, then speckle is removed."""
    clean = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, _CLOSE, iterations=2)
    clean = cv2.morphologyEx(clean, cv2.MORPH_OPEN, _OPEN)
    count, _, stats, _ = cv2.connectedComponentsWithStats(clean, connectivity=8)
    found = []
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= min_area:
            found.append(Blob((x, y, x + w, y + h), area))
    return found
