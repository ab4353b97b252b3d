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


def test_the_reported_object_is_shown_sharp_with_its_box_while_passers_by_are_blurred() -> None:
    from gridedge.edge.event import EventStatus
    from gridedge.vision.pipeline import CameraPipeline
    from tests.vision.test_pipeline import camera, frames

    pipeline = CameraPipeline(camera())
    checked = None
    for ts, frame in frames(12, []):
        img = frame.copy()
        if ts >= 1:  # a checked crate: any blur on it would show
            for i in range(6):
                for j in range(5):
                    colour = (30, 60, 200) if (i + j) % 2 else (220, 220, 220)
                    cv2.rectangle(img, (100 + 10 * i, 260 + 10 * j), (109 + 10 * i, 269 + 10 * j), colour, -1)
        x = 250 + int(ts * 60) % 300  # someone in striped clothes walking by
        for k in range(25):
            cv2.rectangle(img, (x, 200 + 6 * k), (x + 30, 202 + 6 * k), (250, 250, 250), -1)
            cv2.rectangle(img, (x, 203 + 6 * k), (x + 30, 205 + 6 * k), (20, 20, 90), -1)
        for event in pipeline.process(img, ts):
            if event.status is EventStatus.FIRING:
                checked = (img, event, x)
    assert checked is not None
    img, event, x = checked
    assert event.snapshot is not None
    shot = cv2.imdecode(np.frombuffer(event.snapshot, np.uint8), cv2.IMREAD_COLOR)
    sharp = cv2.Laplacian(cv2.cvtColor(shot[265:305, 105:155], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
    original = cv2.Laplacian(cv2.cvtColor(img[265:305, 105:155], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
    assert sharp > 0.5 * original  # the goods: not blurred
    walker = cv2.Laplacian(cv2.cvtColor(shot[215:335, x + 4 : x + 26], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
    walker_before = cv2.Laplacian(cv2.cvtColor(img[215:335, x + 4 : x + 26], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
    assert walker < 0.3 * walker_before  # the passer-by: blurred
    red = (shot[:, :, 2] > 200) & (shot[:, :, 1] < 60) & (shot[:, :, 0] < 60)
    assert red[240:320, 80:180].any()  # the object's box is drawn around it


def test_overlap_of_boxes() -> None:
    from gridedge.vision.boxes import iou

    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == 50 / 150
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
