"""Object detectors behind one interface, chosen by the `type` of the camera's detector config."""

from __future__ import annotations

from collections.abc import Callable

from gridedge.vision.config import DetectorConfig, OnnxDetector, OpenCvDnnDetector, UltralyticsDetector
from gridedge.vision.detector.base import Detection, Detector


def _onnx(config: DetectorConfig) -> Detector:
    from gridedge.vision.detector.onnx import OnnxYolo

    assert isinstance(config, OnnxDetector)
    return OnnxYolo(config)


def _opencv_dnn(config: DetectorConfig) -> Detector:
    from gridedge.vision.detector.opencv_dnn import OpenCvYolo

    assert isinstance(config, OpenCvDnnDetector)
    return OpenCvYolo(config)


def _ultralytics(config: DetectorConfig) -> Detector:
    from gridedge.vision.detector.ultralytics import UltralyticsYolo

    assert isinstance(config, UltralyticsDetector)
    return UltralyticsYolo(config)


BACKENDS: dict[str, Callable[[DetectorConfig], Detector]] = {
    "onnx": _onnx,
    "opencv_dnn": _opencv_dnn,
    "ultralytics": _ultralytics,
}
"""The one registry of detector backends; each imports its runtime only when chosen."""


def make_detector(config: DetectorConfig) -> Detector:
    return BACKENDS[config.type](config)


__all__ = ["BACKENDS", "Detection", "Detector", "make_detector"]
