"""OpenCV DNN backend: the same ONNX models without onnxruntime; names come from config."""

from __future__ import annotations

import cv2

from gridedge.vision.config import OpenCvDnnDetector
from gridedge.vision.detector.base import Detection, Image, decode, letterbox


class OpenCvYolo:
    def __init__(self, config: OpenCvDnnDetector) -> None:
        self._net = cv2.dnn.readNetFromONNX(config.model)
        self.names = list(config.names)
        self.imgsz = config.imgsz
        self._confidence = config.confidence

    def detect(self, frame: Image) -> list[Detection]:
        blob, lb = letterbox(frame, self.imgsz)
        self._net.setInput(blob)
        return decode(self._net.forward(), self.names, lb, self._confidence)
