"""ONNX Runtime backend: the gateway default (no torch), class names read from the model's metadata."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from gridedge.edge.errors import ConfigError
from gridedge.vision.config import OnnxDetector
from gridedge.vision.detector.base import Detection, Image, decode, letterbox, names_from_metadata


class OnnxYolo:
    def __init__(self, config: OnnxDetector) -> None:
        if not Path(config.model).is_file():
            raise ConfigError(config.model, ["1: model: no such file (models are never downloaded)"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(config.model, options, providers=["CPUExecutionProvider"])
        meta = self._session.get_modelmeta().custom_metadata_map
        self.names = names_from_metadata(meta["names"]) if "names" in meta else []
        shape = self._session.get_inputs()[0].shape
        self.imgsz = shape[2] if isinstance(shape[2], int) else config.imgsz
        self._input = self._session.get_inputs()[0].name
        self._confidence = config.confidence

    def detect(self, frame: Image) -> list[Detection]:
        blob, lb = letterbox(frame, self.imgsz)
        (output,) = self._session.run(None, {self._input: blob})[:1]
        return decode(output, self.names, lb, self._confidence)
