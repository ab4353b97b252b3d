from __future__ import annotations

from pathlib import Path

import pytest

from gridedge.edge.config import parse_yaml
from gridedge.edge.errors import ConfigError
from gridedge.vision.config import CameraConfig, OnnxDetector
from tests.vision.test_detector import coco_yolo

CAMERA = """\
id: cam-1
source: rtsp://10.0.0.12/stream2
detector: {type: onnx, model: /opt/models/coco-320.onnx}
zones:
  - name: pavement
    polygon: [[0, 0.6], [1, 0.6], [1, 1], [0, 1]]
    category: street_order.outside_shop_operation
    dwel_s: 300
"""


def test_a_typo_in_a_zone_names_the_line_and_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        parse_yaml(CAMERA, CameraConfig, "cameras.yaml")
    assert "8: zones.0.dwel_s" in str(err.value)


def test_the_detector_is_chosen_by_its_type() -> None:
    camera = parse_yaml(CAMERA.replace("dwel_s", "dwell_s"), CameraConfig, "cameras.yaml")
    assert isinstance(camera.detector, OnnxDetector)
    assert camera.zones[0].dwell_s == 300


def test_zone_names_are_unique_per_camera() -> None:
    twice = CAMERA.replace("    dwel_s: 300\n", "") + CAMERA.split("zones:\n")[1].replace("    dwel_s: 300\n", "")
    with pytest.raises(ConfigError, match="unique"):
        parse_yaml(twice, CameraConfig, "cameras.yaml")


def test_a_zone_with_classes_and_no_detector_is_refused_with_its_line_and_field() -> None:
    no_detector = CAMERA.replace("dwel_s: 300", "classes: [bicycle]").replace(
        "detector: {type: onnx, model: /opt/models/coco-320.onnx}\n", ""
    )
    with pytest.raises(ConfigError) as err:
        parse_yaml(no_detector, CameraConfig, "cameras.yaml")
    assert "cameras.yaml:7: zones.0.classes: classes need a detector" in str(err.value)


def test_a_zone_with_a_class_the_model_does_not_know_is_refused(tmp_path: Path) -> None:
    model = coco_yolo(tmp_path / "coco.onnx")
    config = CAMERA.replace("dwel_s: 300", "classes: [bicycle, e-bike]").replace(
        "/opt/models/coco-320.onnx", str(model)
    )
    with pytest.raises(ConfigError) as err:
        parse_yaml(config, CameraConfig, "cameras.yaml")
    assert "cameras.yaml:8: zones.0.classes: the detector has no class e-bike" in str(err.value)
    known = parse_yaml(config.replace(", e-bike", ", motorcycle"), CameraConfig, "cameras.yaml")
    assert known.zones[0].classes == ["bicycle", "motorcycle"]


def test_a_corridor_zone_without_classes_needs_no_model() -> None:
    corridor = CAMERA.replace("    dwel_s: 300\n", "").replace(
        "detector: {type: onnx, model: /opt/models/coco-320.onnx}\n", ""
    )
    assert parse_yaml(corridor, CameraConfig, "cameras.yaml").detector is None
