"""Ultralytics backend for `.pt` models (optional extra `ultralytics`, AGPL-3.0; never in CI).

Ultralytics fetches weights and a font from the internet unless told not to: it runs offline here,
with an app-owned config directory, and only from a model file that exists.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from gridedge.edge.errors import ConfigError
from gridedge.vision.config import UltralyticsDetector
from gridedge.vision.detector.base import Detection, Image


class UltralyticsYolo:
    def __init__(self, config: UltralyticsDetector) -> None:
        if not Path(config.model).is_file():
            raise ConfigError(config.model, ["1: model: no such file (models are never downloaded)"])
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "gridedge-yolo"))
        from ultralytics import YOLO

        self._model: Any = YOLO(config.model)
        self.names = [str(n) for _, n in sorted(self._model.names.items())]
        self._imgsz = config.imgsz
        self._confidence = config.confidence

    def detect(self, frame: Image) -> list[Detection]:
        result = self._model.predict(frame, imgsz=self._imgsz, conf=self._confidence, verbose=False)[0]
        return [
            Detection(self.names[int(c)], float(s), tuple(float(v) for v in box))  # type: ignore[arg-type]
            for box, s, c in zip(
                result.boxes.xyxy.tolist(), result.boxes.conf.tolist(), result.boxes.cls.tolist(), strict=True
            )
        ]
