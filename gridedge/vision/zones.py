"""Zone polygons (normalised in config) as pixel masks, and which boxes stand inside them."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from gridedge.vision.background import Mask


def polygon_px(
    polygon: Sequence[tuple[float, float]], width: int, height: int
) -> np.ndarray[tuple[int, int], np.dtype[np.int32]]:
    return np.array([[round(x * (width - 1)), round(y * (height - 1))] for x, y in polygon], np.int32)


def zone_mask(polygon: Sequence[tuple[float, float]], width: int, height: int) -> Mask:
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [polygon_px(polygon, width, height)], 1)
    return mask.astype(np.bool_)


def stands_in(box: tuple[float, float, float, float], mask: Mask) -> bool:
    """An object is in a zone when the middle of its bottom edge (where it touches the ground) is."""
    h, w = mask.shape
    x = min(w - 1, max(0, int((box[0] + box[2]) / 2)))
    y = min(h - 1, max(0, int(box[3]) - 1))
    return bool(mask[y, x])
