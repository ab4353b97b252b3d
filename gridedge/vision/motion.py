"""Where the picture moves: background subtraction to gate the detector, and per-pixel stillness.

Two different questions, two cheap tools. "Did anything change since the background?" (MOG2) decides
whether the detector needs to run at all. "How long has this pixel been still?" (differencing against
the previous analysed frame, remembered per pixel) tells a parked object from a passer-by.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

Mask = np.ndarray[Any, np.dtype[np.bool_]]
Grey = np.ndarray[Any, Any]  # single-channel 8-bit; the cv2 stubs type pixel arrays loosely

DIFF_THRESHOLD = 18
_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))


class MotionGate:
    def __init__(self, history: int = 150, min_fraction: float = 0.001) -> None:
        self._mog = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=32, detectShadows=False)
        self._min_fraction = min_fraction
        self.region: tuple[int, int, int, int] | None = None

    def changed(self, grey: Grey) -> bool:
        """True when enough of the frame differs from the learnt background to be worth a detector run;
        `region` is then the box (x0, y0, x1, y1) around everything that changed."""
        fg = self._mog.apply(grey)
        if np.count_nonzero(fg) < self._min_fraction * fg.size:
            self.region = None
            return False
        x, y, w, h = cv2.boundingRect(fg)
        self.region = (x, y, x + w, y + h)
        return True


class Stillness:
    """Per pixel, the time it last moved; moving regions are dilated so the flat inside of a moving
    object does not count as still."""

    def __init__(self) -> None:
        self._previous: Grey | None = None
        self._last_moved: np.ndarray[Any, np.dtype[np.float64]] | None = None

    def update(self, grey: Grey, ts: float) -> Mask:
        """Record the frame at `ts`; return the mask of pixels that moved in it."""
        if self._previous is None or self._last_moved is None or self._previous.shape != grey.shape:
            self._previous = grey
            self._last_moved = np.full(grey.shape, ts, np.float64)
            return np.ones(grey.shape, np.bool_)
        moved = cv2.absdiff(grey, self._previous) > DIFF_THRESHOLD
        moved = cv2.dilate(moved.astype(np.uint8), _KERNEL, iterations=2).astype(np.bool_)
        self._last_moved[moved] = ts
        self._previous = grey
        return moved

    def still_for(self, ts: float, seconds: float) -> Mask:
        if self._last_moved is None:
            raise RuntimeError("no frame yet")
        return np.asarray(ts - self._last_moved >= seconds, np.bool_)
