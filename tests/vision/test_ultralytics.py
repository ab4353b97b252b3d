"""The Ultralytics backend, only where its optional extra (and torch) is installed; never in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridedge.edge.errors import ConfigError
from gridedge.vision.config import UltralyticsDetector
from gridedge.vision.detector import make_detector

pytest.importorskip("ultralytics")


def test_a_missing_pt_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        make_detector(UltralyticsDetector(model=str(tmp_path / "absent.pt")))


def test_a_pt_model_runs_without_the_internet_and_its_labels_are_its_class_names(tmp_path: Path) -> None:
    """A model built from Ultralytics' own layer file (nothing is downloaded), saved as .pt, run on a
    frame of a generated scene through the backend: the plumbing, offline, not the model's accuracy."""
    from ultralytics import YOLO

    from gridedge.simulators.scenes import training_image

    model = YOLO("yolov8n.yaml")
    path = tmp_path / "untrained.pt"
    model.save(str(path))
    detector = make_detector(UltralyticsDetector(model=str(path), imgsz=160, confidence=0.01))
    frame, _ = training_image(7)
    found = detector.detect(frame)
    names = set(model.names.values())
    assert all(d.label in names for d in found)
    assert all(0 <= d.box[0] <= d.box[2] <= frame.shape[1] for d in found)
