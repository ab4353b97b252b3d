"""py-spy for the profiles behind docs/performance.md: where it is, a recording, samples by stage."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

RATE = 200  # samples per second

Stages = Sequence[tuple[str, str]]
"""(stage, a mark found in a frame of its stacks), in the order a sample is tried against them."""


def py_spy() -> str:
    """py-spy from PATH, else the one the test extra installed beside this interpreter."""
    return shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))


@contextmanager
def recording(pid: int, raw: Path) -> Iterator[None]:
    """py-spy sampling `pid` (raw collapsed stacks into `raw`) until the block ends."""
    command = [py_spy(), "record", "-r", str(RATE), "-p", str(pid), "--format", "raw", "--nonblocking"]
    recorder = subprocess.Popen([*command, "-o", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes what it has
        recorder.wait(timeout=30)


def stages(raw: str, marks: Stages) -> list[tuple[str, float]]:
    """py-spy's raw output (one `frame;frame;... count` line per stack) as shares per stage: a sample goes
    to the first stage that has its mark in a frame of the sample's stack, else to "other"."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        stage = next((s for s, mark in marks if any(mark in f for f in frames)), "other")
        counts[stage] += int(n)
    total = sum(counts.values()) or 1
    return [(stage, n / total) for stage, n in counts.most_common()]
