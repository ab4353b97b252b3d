"""The real agent as its own process, as an installer starts it: for tests that kill it and start it again."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def start_agent(
    config: Path, log: Path, *, log_level: str | None = "info", env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`gridedge agent --config CONFIG`, its log appended to `log` (kept across restarts), `env` added."""
    command = [sys.executable, "-m", "gridedge", "agent", "--config", str(config)]
    command += ["--log-level", log_level] if log_level is not None else []
    with log.open("ab") as sink:
        return subprocess.Popen(command, stderr=sink, env={**os.environ, **(env or {})})
