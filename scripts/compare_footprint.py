"""Footprint of this checkout against an earlier commit, measured alternately in one run.

    .venv/bin/python scripts/compare_footprint.py [--base COMMIT] [--rounds N]

The earlier commit is checked out in a temporary git worktree and runs on this checkout's virtual
environment (the same dependencies): `python -m gridedge` started in a checkout imports that
checkout's `gridedge` and `bench` first. Each round runs `gridedge bench footprint` for the base, then
for this checkout, so a change in the machine's load falls on both. Prints every run and the medians;
`--out` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("rss_mb", "rss_loaded_mb", "cpu_s_per_1k_readings", "readings_per_s")


def footprint(checkout: Path) -> dict[str, float]:
    subprocess.run([sys.executable, "-m", "gridedge", "bench", "footprint"], cwd=checkout, check=True)
    figures: dict[str, float] = json.loads((checkout / "bench" / "results" / "footprint.json").read_text())["figures"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="2d563cb", help="The commit to compare with.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="Write the runs and medians here (JSON).")
    args = parser.parse_args()
    rev = ["git", "rev-parse", "--short", "HEAD"]
    head = subprocess.run(rev, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
    with tempfile.TemporaryDirectory(prefix="gridedge-base-") as tmp:
        base = Path(tmp) / "checkout"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), args.base], cwd=ROOT, check=True)
        try:
            for _ in range(args.rounds):
                runs["base"].append(footprint(base))
                runs["head"].append(footprint(ROOT))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=True)
    medians = {side: {f: statistics.median(r[f] for r in rs) for f in FIGURES} for side, rs in runs.items()}
    for side, rs in runs.items():
        print(side, " ".join(f"{f}={[round(r[f], 3) for r in rs]}" for f in FIGURES))
    for f in FIGURES:
        print(f"{f:<24} base {medians['base'][f]:>12.4f}  head {medians['head'][f]:>12.4f}")
    if args.out is not None:
        record = {"base": args.base, "head": head.strip(), "rounds": args.rounds, "runs": runs, "medians": medians}
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
