from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gridedge.cli import app


def test_vision_eval_reports_precision_recall_and_time_to_event(clips: Path) -> None:
    result = CliRunner().invoke(app, ["vision", "eval", str(clips / "goods_left.yaml")])
    assert result.exit_code == 0, result.output
    assert "precision 1.00  recall 1.00" in result.output
    assert "goods_left" in result.output
