"""Docs quote benchmark figures only through bench/report.py's markers, and the values match bench/results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report


def test_every_doc_quotes_the_results_as_they_are() -> None:
    stale = [str(doc.relative_to(report.ROOT)) for doc in report.stale()]
    assert stale == [], f"run `python -m bench.report --write`: {stale}"


def test_the_performance_page_holds_every_figure_of_every_result() -> None:
    page = (report.ROOT / "docs" / "performance.md").read_text()
    for path in sorted(report.RESULTS.glob("*.json")):
        for name in json.loads(path.read_text())["figures"]:
            assert f"`{name}`" in page, f"{path.name}: {name} missing from docs/performance.md"


def test_a_changed_figure_makes_the_doc_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results"
    results.mkdir()
    measured = {"figures": {"cameras_at_5fps": 4.0}, "bounds": "b", "seconds": 1, "when": "2026-12-03T00:00"}
    (results / "vision.json").write_text(json.dumps(measured))
    monkeypatch.setattr(report, "RESULTS", results)
    report.result.cache_clear()
    try:
        doc = "held <!--fig vision.cameras_at_5fps-->4<!--/fig--> cameras"
        assert report.render(doc) == doc
        measured["figures"]["cameras_at_5fps"] = 8.0
        (results / "vision.json").write_text(json.dumps(measured))
        report.result.cache_clear()
        assert report.render(doc) == "held <!--fig vision.cameras_at_5fps-->8<!--/fig--> cameras"
        with pytest.raises(report.MissingFigureError, match="no figure 'cameras_at_8fps'"):
            report.render("<!--fig vision.cameras_at_8fps-->8<!--/fig-->")
    finally:
        report.result.cache_clear()
