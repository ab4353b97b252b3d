"""Docs figures from bench/results/*.json: the table in docs/performance.md and every figure quoted in prose.

A doc never types a measured figure. It names it, and this module writes the value in:
- `<!--fig SCENARIO.FIGURE-->value<!--/fig-->` in running text (the comments do not show when rendered);
- `<!--bench-table-->...<!--/bench-table-->`: every scenario's figures;
- `<!--bench-settings-->...<!--/bench-settings-->`: what each scenario ran on (broker, QoS, stores);
- `<!--bench-goals-->...<!--/bench-goals-->`: the headline figures against their goals (bench/goals.py).
`python -m bench.report --write` rewrites the docs after a benchmark run; tests/test_docs_figures.py fails
when a doc and the JSON disagree.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

from bench.goals import GOALS
from bench.harness import RESULTS, SCENARIOS

ROOT = RESULTS.parent.parent
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
FIGURE = re.compile(r"<!--fig ([a-z0-9_]+)\.([a-z0-9_]+)-->(.*?)<!--/fig-->", re.DOTALL)
BLOCK = re.compile(r"(<!--bench-(table|settings|goals)-->\n)(?:.*?\n)?(<!--/bench-\2-->)", re.DOTALL)


class MissingFigureError(LookupError):
    """A doc names a figure that no result file holds."""


@cache
def result(scenario: str) -> dict[str, Any]:
    path = RESULTS / f"{scenario}.json"
    if not path.exists():
        raise MissingFigureError(f"no {path.relative_to(ROOT)}: run `gridedge bench {scenario}`")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def figure(scenario: str, name: str) -> str:
    figures = result(scenario)["figures"]
    if name not in figures:
        raise MissingFigureError(f"bench/results/{scenario}.json has no figure {name!r}")
    return number(figures[name])


def _scenarios() -> list[str]:
    return [name for name in SCENARIOS if (RESULTS / f"{name}.json").exists()]


def table() -> str:
    lines = ["| scenario | figure | value | bounds (and when) |", "| --- | --- | --- | --- |"]
    for name in _scenarios():
        measured = result(name)
        where = f"{measured['bounds']}; {measured['seconds']} s, {measured['when'][:10]}"
        for i, (key, value) in enumerate(measured["figures"].items()):
            lines.append(f"| {name if i == 0 else ''} | `{key}` | {number(value)} | {where if i == 0 else ''} |")
    return "\n".join(lines)


def _setting(value: object) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k} {_setting(v)}" for k, v in value.items() if v not in ([], ""))
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def settings() -> str:
    lines = ["| scenario | setting | value |", "| --- | --- | --- |"]
    for name in _scenarios():
        used = result(name).get("settings") or {"(not recorded)": "measured before settings were recorded"}
        for i, (key, value) in enumerate(used.items()):
            lines.append(f"| {name if i == 0 else ''} | {key} | {_setting(value)} |")
    return "\n".join(lines)


def goals() -> str:
    scenarios = {goal.scenario for goal in GOALS}
    measured = {name: result(name)["figures"] for name in scenarios if (RESULTS / f"{name}.json").exists()}
    lines = ["| goal | figure | measured | goal | met |", "| --- | --- | --- | --- | --- |"]
    for goal in GOALS:
        value, met = goal.measured(measured), goal.met(measured)
        shown = "not measured" if value is None else number(value)
        verdict = {True: "yes", False: "**no**", None: "-"}[met]
        bound = f"{goal.sign} {number(goal.bound)}"
        lines.append(f"| {goal.what} | `{goal.scenario}.{goal.name}` | {shown} | {bound} | {verdict} |")
    return "\n".join(lines)


def render(text: str) -> str:
    """`text` with every named figure and block filled in from the results."""
    text = FIGURE.sub(lambda m: f"<!--fig {m[1]}.{m[2]}-->{figure(m[1], m[2])}<!--/fig-->", text)
    blocks = {"table": table, "settings": settings, "goals": goals}
    return BLOCK.sub(lambda m: f"{m[1]}{blocks[m[2]]()}\n{m[3]}", text)


def stale() -> list[Path]:
    """Docs whose figures differ from the results."""
    return [doc for doc in DOCS if render(doc.read_text()) != doc.read_text()]


def main(args: list[str]) -> int:
    if "--write" in args:
        for doc in stale():
            doc.write_text(render(doc.read_text()))
            print(f"updated {doc.relative_to(ROOT)}")
        return 0
    if "--check" in args:
        docs = stale()
        for doc in docs:
            print(f"{doc.relative_to(ROOT)} quotes figures that differ from bench/results", file=sys.stderr)
        return 1 if docs else 0
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
