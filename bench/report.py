"""The table in docs/performance.md, from bench/results/*.json: `python -m bench.report`."""

from __future__ import annotations

import json

from bench.harness import RESULTS, SCENARIOS


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def table() -> str:
    lines = ["| scenario | figure | value | bounds (and when) |", "| --- | --- | --- | --- |"]
    for name in SCENARIOS:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        where = f"{result['bounds']}; {result['seconds']} s, {result['when'][:10]}"
        for i, (figure, value) in enumerate(result["figures"].items()):
            lines.append(f"| {name if i == 0 else ''} | `{figure}` | {_number(value)} | {where if i == 0 else ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
