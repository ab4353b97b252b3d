"""Docs quote benchmark figures only through bench/report.py's markers, and the values match bench/results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report
from bench.goals import GOALS, Goal


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


def test_a_goal_is_met_only_by_the_figures_it_names() -> None:
    floor = Goal("burst", "ingest", "ratio_to_ceiling", 0.8)
    assert floor.met({"ingest": {"ratio_to_ceiling": 0.8}}) is True
    assert floor.met({"ingest": {"ratio_to_ceiling": 0.79}}) is False
    assert floor.met({"vision": {"ratio_to_ceiling": 0.9}}) is None  # another scenario's figure is not it
    ceiling = Goal("p99", "latency", "p99_ms_at_10pct", 20, at_least=False)
    assert ceiling.met({"latency": {"p99_ms_at_10pct": 21.0}}) is False
    scaling = Goal("two against one", "centre", "events_per_s_pg_2_total", 1.6, over="events_per_s_pg_1")
    assert scaling.measured({"centre": {"events_per_s_pg_2_total": 3200.0, "events_per_s_pg_1": 2000.0}}) == 1.6
    assert scaling.met({"centre": {"events_per_s_pg_2_total": 3000.0, "events_per_s_pg_1": 2000.0}}) is False
    assert scaling.met({"centre": {"events_per_s_pg_2_total": 3000.0}}) is None


def test_the_goals_table_shows_every_goal_with_its_verdict() -> None:
    rows = report.goals().splitlines()[2:]
    assert len(rows) == len(GOALS)
    for goal, row in zip(GOALS, rows, strict=True):
        assert f"`{goal.scenario}.{goal.name}`" in row
        assert row.endswith(("| yes |", "| **no** |", "| - |"))
