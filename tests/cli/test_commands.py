"""The command line's packaging: entry points, `gridedge bench` outside a checkout, run-time tuning."""

import gc
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import setuptools
from typer.testing import CliRunner

from gridedge.cli import app
from gridedge.gateway.runtime import tune_process
from gridedge.gateway.settings import Runtime

ROOT = Path(__file__).parents[2]


def test_python_m_gridedge_is_the_same_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gridedge", "--help"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    for group in ("agent", "center", "demo", "bench", "schemas", "doctor", "profile", "rules", "vision", "bridge"):
        assert group in result.stdout


def test_bench_outside_a_checkout_says_where_to_run_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["bench", "footprint"])
    assert result.exit_code == 2
    assert "runs in a GridEdge checkout" in result.output
    assert str(tmp_path) in result.output
    assert not (tmp_path / "bench").exists()


def test_bench_in_a_checkout_runs_its_harness() -> None:
    """In a checkout, the command finds the harness that is not installed (bench/ is not in the wheel)."""
    command = [sys.executable, "-m", "gridedge", "bench", "no-such-scenario"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 2
    assert "unknown scenario 'no-such-scenario'; known: all, e2e" in result.stderr


def test_bench_is_not_in_the_wheel() -> None:
    """The packages setuptools finds with the project's own settings: bench/ never lands in site-packages."""
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = setuptools.find_packages(where=str(ROOT), include=found["include"])
    assert {"gridedge", "gridedge.cli", "gridedge.gateway", "gridedge.devtools"} <= set(packages)
    assert [p for p in packages if not p.startswith("gridedge")] == []
    assert (ROOT / "bench" / "harness.py").is_file()  # there, just not packed


@pytest.fixture
def gc_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


@pytest.mark.usefixtures("gc_restored")
def test_runtime_tuning_is_the_configs_and_defaults_to_the_benchmarked_one() -> None:
    gc.set_threshold(700, 10, 10)
    frozen = gc.get_freeze_count()
    tune_process(Runtime())
    assert gc.get_threshold() == (20_000, 20, 20)
    assert gc.get_freeze_count() > frozen

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    tune_process(Runtime.model_validate({"gc_freeze": False, "gc_thresholds": None}))
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
