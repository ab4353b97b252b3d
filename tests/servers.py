"""Real servers for integration tests, each on 127.0.0.1 and a free port, stopped by the test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gridedge.devtools.broker import MosquittoProcess, free_port

Mosquitto = MosquittoProcess

__all__ = ["Mosquitto", "free_port", "mosquitto"]


@contextmanager
def mosquitto(workdir: Path) -> Iterator[MosquittoProcess]:
    broker = MosquittoProcess(free_port(), workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
