from __future__ import annotations

import dataclasses
from multiprocessing import resource_tracker
from pathlib import Path

import pytest

from gridedge.simulators.scenes import SCENES, write_clip

ZONE_SETTINGS = {"dwell_s": 15.0, "clear_s": 3.0}


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated labelled clips (5 fps: the analysis rate), written once per test session."""
    directory = tmp_path_factory.mktemp("clips")
    for make in SCENES.values():
        write_clip(dataclasses.replace(make(), fps=5.0, zone_settings=ZONE_SETTINGS), directory)
    return directory


@pytest.fixture(scope="session", autouse=True)
def _resource_tracker() -> None:
    """Camera workers are spawned processes; the first one starts Python's resource tracker, a
    helper that lives as long as the interpreter. Start it up front so the leak check does not
    count it against a test."""
    resource_tracker.ensure_running()
