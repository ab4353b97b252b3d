"""The benchmark harness: a registry of scenarios, a table on stdout and one JSON file per scenario.

Scenarios measure their reference in the same run where they have one, so a ratio holds on a noisy
machine. Each one states what bounds it (count and time), and none is a timed test.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


@dataclass
class Measured:
    figures: dict[str, float]
    bounds: str  # what limits the run, e.g. "20,000 readings or 60 s"
    notes: dict[str, str] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)  # broker, QoS, stores: see bench/settings.py


SCENARIOS: dict[str, str] = {
    "e2e": "bench.scenarios.e2e",
    "ingest": "bench.scenarios.ingest",
    "decode": "bench.scenarios.decode",
    "modbus": "bench.scenarios.modbus",
    "rules": "bench.scenarios.rules",
    "vision": "bench.scenarios.vision",
    "replay": "bench.scenarios.replay",
    "latency": "bench.scenarios.latency",
    "centre": "bench.scenarios.centre",
    "footprint": "bench.scenarios.footprint",
}


def _scenario(name: str) -> Callable[[bool], Measured]:
    module = importlib.import_module(SCENARIOS[name])
    run: Callable[[bool], Measured] = module.run
    return run


def machine() -> dict[str, object]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "platform": platform.platform(), "python": sys.version.split()[0]}


def versions() -> dict[str, str]:
    found = {}
    for dist in ("gridedge", "paho-mqtt", "aiomqtt", "pydantic", "SQLAlchemy", "fastapi"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:
        out = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True, timeout=5, check=False).stdout
        found["mosquitto"] = out.splitlines()[0].split()[2] if out else "unknown"
    except (OSError, IndexError, subprocess.TimeoutExpired):
        pass
    return found


def write(name: str, measured: Measured, quick: bool, seconds: float) -> Path:
    """bench/results/NAME.json: the figures with what they ran on, where, with what and when."""
    result = {
        "scenario": name,
        "figures": measured.figures,
        "bounds": measured.bounds,
        "quick": quick,
        "notes": measured.notes,
        "settings": measured.settings,
        "seconds": round(seconds, 1),
        "machine": machine(),
        "versions": versions(),
        "when": datetime.now(tz=UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in measured.figures) if measured.figures else 10
    print(f"\n{name}  ({measured.bounds}; {result['seconds']} s)")
    for figure, value in measured.figures.items():
        print(f"  {figure:<{width}}  {value:>14,.2f}")
    print(f"  -> {path}")
    return path


def run_one(name: str, quick: bool) -> Path:
    started = time.monotonic()
    measured = _scenario(name)(quick)
    return write(name, measured, quick, time.monotonic() - started)


def run_scenarios(name: str, quick: bool = False) -> int:
    names = list(SCENARIOS) if name == "all" else [name]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario {unknown[0]!r}; known: all, {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    if len(names) == 1:
        run_one(names[0], quick)
        return 0
    # `all`: each scenario in a fresh process, so none inherits another's threads, heap or imports.
    failed, took = [], {}
    started = time.monotonic()
    for n in names:
        args = [sys.executable, "-m", "gridedge", "bench", n, *(["--quick"] if quick else [])]
        began = time.monotonic()
        if subprocess.run(args, check=False).returncode != 0:
            failed.append(n)
        took[n] = f"{time.monotonic() - began:.0f} s"
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    seconds = time.monotonic() - started
    bounds = "every scenario, one after another, each in a fresh process"
    write("all", Measured({"scenarios_seconds": round(seconds, 1)}, bounds, notes=took), quick, seconds)
    return 0
