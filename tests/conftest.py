from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.servers import Mosquitto, mosquitto


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto on a free loopback port, private to the test."""
    with mosquitto(tmp_path) as b:
        yield b


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Fail a test that leaves threads or child processes behind."""
    threads = set(threading.enumerate())
    me = psutil.Process()
    children = {p.pid for p in me.children(recursive=True)}
    yield
    deadline_threads = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    for t in deadline_threads:
        t.join(timeout=5)
    leaked_threads = [t.name for t in deadline_threads if t.is_alive()]
    leaked_children = []
    for p in me.children(recursive=True):
        if p.pid in children:
            continue
        try:
            p.wait(timeout=5)
        except psutil.TimeoutExpired:
            leaked_children.append(p.pid)
    assert not leaked_threads, f"test leaked threads: {leaked_threads}"
    assert not leaked_children, f"test leaked child processes: {leaked_children}"
