"""The picture that lets an officer verify from the office: zone, box, label and time on a JPEG, with
people blurred by default (moving regions when no person detector runs)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import cv2
import numpy as np

from gridedge.vision.boxes import Box
from gridedge.vision.detector.base import Image

MAX_BYTES = 400_000


def blur(frame: Image, boxes: Sequence[Box]) -> Image:
    out = frame.copy()
    h, w = out.shape[:2]
    for box in boxes:
        x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
        if x1 - x0 > 1 and y1 - y0 > 1:
            k = max(9, (max(x1 - x0, y1 - y0) // 3) | 1)  # strong enough that no face or stripe stays legible
            out[y0:y1, x0:x1] = cv2.GaussianBlur(out[y0:y1, x0:x1], (k, k), 0)
    return out


def annotate(
    frame: Image,
    zone: np.ndarray[tuple[int, int], np.dtype[np.int32]],
    boxes: Sequence[Box],
    *,
    label: str,
    ts: float,
    people: Sequence[Box] = (),
    box_labels: Sequence[str] = (),
) -> bytes:
    """A JPEG of `frame` with the zone outline, the object boxes (each with its label, e.g. its track id
    and how long it has stood there), the label and UTC time; `people` blurred."""
    img = blur(frame, people)
    cv2.polylines(img, [zone], isClosed=True, color=(0, 200, 255), thickness=2)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 255), 2)
        if i < len(box_labels):
            cv2.putText(img, box_labels[i], (x0, max(12, y0 - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1)
    stamp = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    for text, y in ((label, 22), (stamp, 46)):
        cv2.putText(img, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    for quality in (85, 70, 50, 30):
        ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(jpeg) <= MAX_BYTES:
            return jpeg.tobytes()
    raise ValueError("snapshot does not fit the evidence size limit")


PREVIEW_WIDTH = 640


def preview(frame: Image, zones: Sequence[tuple[str, Sequence[tuple[float, float]]]]) -> bytes:
    """The installer page's view of a camera: the frame at 640 wide with every zone outlined and named,
    so zones can be checked against the street. It stays on the gateway, behind the local API's token."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (PREVIEW_WIDTH, round(h * PREVIEW_WIDTH / w)), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    for name, polygon in zones:
        points = np.array([[round(x * sw), round(y * sh)] for x, y in polygon], np.int32)
        cv2.polylines(small, [points], isClosed=True, color=(0, 200, 255), thickness=2)
        x, y = points.min(axis=0)
        cv2.putText(
            small, name, (int(x) + 4, int(y) + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 255), 1, cv2.LINE_AA
        )
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
    if not ok:
        raise ValueError("cannot encode the preview")
    return jpeg.tobytes()
