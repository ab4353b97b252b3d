"""Process-level tuning the gateway config asks for (`runtime:`), applied once the agent is built."""

from __future__ import annotations

import gc

from gridedge.gateway.settings import Runtime


def tune_process(runtime: Runtime) -> None:
    """Call after start-up, when what lives as long as the process has been made."""
    if runtime.gc_freeze:
        gc.freeze()
    if runtime.gc_thresholds is not None:
        gc.set_threshold(*runtime.gc_thresholds)
