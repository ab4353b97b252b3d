from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gridedge.cloud_bridge import Outbox
from gridedge.devtools.broker import MosquittoProcess, free_port
from tests import disks


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite3")
    yield box
    box.close()


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A real Mosquitto that keeps sessions across stop() and start() on the same port."""
    workdir = tmp_path / "broker"
    workdir.mkdir()
    broker = MosquittoProcess(free_port(), workdir, persistence=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB filesystem (tmpfs, mounted for the test): fill it to see what a full disk does."""
    with disks.small_disk(tmp_path / "small-disk") as disk:
        yield disk
