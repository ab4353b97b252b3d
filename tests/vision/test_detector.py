"""Detector backends on a tiny YOLO-format ONNX model built here (a fixed head output, names in the
metadata as Ultralytics writes them), so the suite needs no trained weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from gridedge.edge.errors import ConfigError
from gridedge.vision.config import OnnxDetector, OpenCvDnnDetector
from gridedge.vision.detector import BACKENDS, make_detector

SIZE = 64
NAMES = "{0: 'person', 1: 'bicycle'}"


def tiny_yolo(path: Path) -> Path:
    """Output (1, 4 + 2 classes, 3 anchors): a bicycle at (32, 40) 16x8, a weaker overlapping
    duplicate (removed by NMS), and a person below the confidence threshold."""
    head = np.zeros((1, 6, 3), np.float32)
    head[0, :, 0] = [32, 40, 16, 8, 0.1, 0.9]
    head[0, :, 1] = [33, 40, 16, 8, 0.1, 0.8]
    head[0, :, 2] = [10, 10, 4, 4, 0.2, 0.0]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["head", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 6, 3])],
        [numpy_helper.from_array(head, "head"), numpy_helper.from_array(np.zeros((), np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"names": NAMES, "imgsz": f"[{SIZE}, {SIZE}]"})
    onnx.save(model, path)
    return path


def test_onnx_backend_reads_class_names_from_metadata_and_maps_boxes_back(tmp_path: Path) -> None:
    detector = make_detector(OnnxDetector(model=str(tiny_yolo(tmp_path / "tiny.onnx")), confidence=0.5))
    assert detector.names == ["person", "bicycle"]
    frame = np.zeros((64, 128, 3), np.uint8)  # 2:1, letterboxed into 64x64 at scale 0.5, padded 16 on top
    (found,) = detector.detect(frame)
    assert found.label == "bicycle"
    assert found.score == pytest.approx(0.9)
    assert found.box == pytest.approx((48.0, 40.0, 80.0, 56.0))


def test_opencv_dnn_backend_runs_the_same_model_with_names_from_config(tmp_path: Path) -> None:
    config = OpenCvDnnDetector(model=str(tiny_yolo(tmp_path / "tiny.onnx")), names=["person", "bicycle"], imgsz=SIZE)
    (found,) = make_detector(config).detect(np.zeros((64, 128, 3), np.uint8))
    assert found.label == "bicycle"


def test_a_missing_model_is_a_config_error_never_a_download(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        make_detector(OnnxDetector(model=str(tmp_path / "absent.onnx")))


def test_every_config_type_has_a_backend() -> None:
    assert set(BACKENDS) == {"onnx", "opencv_dnn", "ultralytics"}


COCO = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
]  # fmt: skip


def coco_yolo(path: Path, size: int = 320) -> Path:
    """A model with exactly the output of a COCO-trained YOLOv8/YOLO11 export at `size`: (1, 84, 2100)
    (4 box values and 80 class scores per anchor), names in the metadata as Ultralytics writes them.
    One anchor holds a motorcycle (class 3) at (160, 200) 64x48 in input pixels."""
    anchors = (size // 8) ** 2 + (size // 16) ** 2 + (size // 32) ** 2
    head = np.zeros((1, 84, anchors), np.float32)
    head[0, :4, 7] = [160, 200, 64, 48]
    head[0, 4 + 3, 7] = 0.8
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["head", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "coco-shaped",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, anchors])],
        [numpy_helper.from_array(head, "head"), numpy_helper.from_array(np.zeros((), np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    names = "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(COCO)) + "}"
    helper.set_model_props(model, {"names": names, "imgsz": f"[{size}, {size}]"})
    onnx.save(model, path)
    return path


def test_onnx_backend_runs_a_model_of_cocos_80_class_shape(tmp_path: Path) -> None:
    detector = make_detector(OnnxDetector(model=str(coco_yolo(tmp_path / "coco.onnx"))))
    assert len(detector.names) == 80
    assert detector.names[3] == "motorcycle"
    frame = np.zeros((320, 320, 3), np.uint8)  # square: no letterbox padding, scale 1
    (found,) = detector.detect(frame)
    assert found.label == "motorcycle"
    assert found.box == pytest.approx((128.0, 176.0, 192.0, 224.0))
