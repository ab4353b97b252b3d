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
