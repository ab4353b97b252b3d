"""The detector interface and the YOLOv8/YOLO11 pre- and post-processing every backend shares."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

Image = np.ndarray[Any, Any]  # an OpenCV BGR frame; the cv2 stubs type pixel arrays loosely
Floats = np.ndarray[Any, Any]

NMS_IOU = 0.45


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the pixels of the frame given


class Detector(Protocol):
    names: list[str]

    def detect(self, frame: Image) -> list[Detection]: ...


@dataclass(frozen=True, slots=True)
class Letterbox:
    scale: float
    pad_x: int
    pad_y: int


def letterbox(frame: Image, size: int) -> tuple[Floats, Letterbox]:
    """Scale into a `size` square keeping the aspect, pad with grey; NCHW float RGB in 0..1."""
    h, w = frame.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = round(w * scale), round(h * scale)
    canvas = np.full((size, size, 3), 114, np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    canvas[py : py + nh, px : px + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    blob = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return blob, Letterbox(scale, px, py)


def decode(output: Floats, names: list[str], lb: Letterbox, confidence: float) -> list[Detection]:
    """YOLOv8/YOLO11 head output (1, 4 + classes, anchors): cx, cy, w, h then one score per class."""
    rows = output[0].T
    scores = rows[:, 4:]
    cls = scores.argmax(axis=1)
    best = scores[np.arange(len(rows)), cls]
    keep = best >= confidence
    rows, cls, best = rows[keep], cls[keep], best[keep]
    if not len(rows):
        return []
    xywh = rows[:, :4].copy()
    xywh[:, 0] -= xywh[:, 2] / 2
    xywh[:, 1] -= xywh[:, 3] / 2
    picked = cv2.dnn.NMSBoxesBatched(xywh.tolist(), best.tolist(), cls.tolist(), confidence, NMS_IOU)
    found = []
    for i in np.asarray(picked, np.int64).reshape(-1):
        x, y, w, h = xywh[i]
        x0, y0 = (x - lb.pad_x) / lb.scale, (y - lb.pad_y) / lb.scale
        name = names[cls[i]] if cls[i] < len(names) else str(int(cls[i]))
        found.append(
            Detection(name, float(best[i]), (float(x0), float(y0), float(x0 + w / lb.scale), float(y0 + h / lb.scale)))
        )
    return found


def names_from_metadata(text: str) -> list[str]:
    """Ultralytics writes `names` as a Python dict literal ({0: 'person', ...}) in the ONNX metadata."""
    value = ast.literal_eval(text)
    if isinstance(value, dict):
        return [str(value[k]) for k in sorted(value)]
    return [str(v) for v in value]
