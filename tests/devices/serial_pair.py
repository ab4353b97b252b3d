"""A virtual serial pair (socat), so Modbus RTU runs over a real tty in tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def serial_pair() -> Iterator[tuple[str, str]]:
    """Two connected pseudo-terminals: what is written to one is read from the other."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is missing: apt-get install socat (./run test installs it)")
    proc = subprocess.Popen([socat, "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        ptys: list[str] = []
        while len(ptys) < 2:
            line = proc.stderr.readline()
            if not line:
                raise RuntimeError("socat exited before opening the pair")
            ptys += re.findall(r"PTY is (\S+)", line)
        yield ptys[0], ptys[1]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()
