from __future__ import annotations

import cv2
import numpy as np

from gridedge.vision.evidence import MAX_BYTES, annotate
from gridedge.vision.zones import polygon_px, stands_in, zone_mask


def test_snapshot_is_a_bounded_jpeg_with_people_blurred() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    person = (400, 100, 480, 300)
    jpeg = annotate(
        frame,
        polygon_px([(0, 0.6), (1, 0.6), (1, 1), (0, 1)], 640, 360),
        [(100, 250, 200, 340)],
        label="goods",
        ts=1_700_000_000.0,
        people=[person],
    )
    assert len(jpeg) <= MAX_BYTES
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == frame.shape
    x0, y0, x1, y1 = person
    blurred, untouched = image[y0 + 10 : y1 - 10, x0 + 10 : x1 - 10], image[120:280, 300:380]
    assert blurred.std() < untouched.std() / 3


def test_objects_stand_in_a_zone_by_their_feet() -> None:
    mask = zone_mask([(0, 0.5), (1, 0.5), (1, 1), (0, 1)], 100, 100)
    assert stands_in((10, 20, 30, 80), mask)
    assert not stands_in((10, 5, 30, 40), mask)
