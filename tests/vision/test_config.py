from __future__ import annotations

import pytest

from gridedge.edge.config import parse_yaml
from gridedge.edge.errors import ConfigError
from gridedge.vision.config import CameraConfig, OnnxDetector

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
