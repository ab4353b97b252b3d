"""Computed points: a value derived from other points of the same message, in the same safe expression
language as rule conditions (simpleeval), parsed and checked once when the profile loads.

A point is named in an expression by its name with `.` and `-` written as `_` (`port1.current` is
`port1_current`), so every name is a plain identifier and no attribute access is needed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

import simpleeval

FUNCTIONS: dict[str, Any] = {"abs": abs, "round": round, "min": min, "max": max, "int": int, "float": float}
_ALLOWED = frozenset(simpleeval.SimpleEval().nodes)


def alias(point_name: str) -> str:
    return point_name.replace(".", "_").replace("-", "_")


@dataclass(frozen=True, slots=True)
class Expression:
    source: str
    tree: ast.AST
    names: tuple[str, ...]  # aliases of the points it reads


def parse_expression(source: str, known: set[str]) -> Expression | tuple[int, str]:
    """The checked expression, or (column, why) naming the first problem."""
    try:
        tree = simpleeval.SimpleEval.parse(source)
    except SyntaxError as exc:
        return exc.offset or 1, f"syntax error: {exc.msg}"
    names: list[str] = []
    for node in ast.walk(tree):
        column = getattr(node, "col_offset", 0) + 1
        if isinstance(node, ast.Attribute):
            return column, "attribute access is not allowed; write port1.current as port1_current"
        if type(node) not in _ALLOWED and not isinstance(
            node, ast.expr_context | ast.operator | ast.cmpop | ast.boolop | ast.unaryop | ast.keyword
        ):
            return column, f"{type(node).__name__} is not allowed in an expression"
        if isinstance(node, ast.Name) and node.id not in FUNCTIONS and node.id not in ("True", "False", "None"):
            if node.id not in known:
                return column, f"unknown point {node.id!r}; known: {', '.join(sorted(known))}"
            names.append(node.id)
    if not names:
        return 1, "reads no point: a constant is not a measurement"
    return Expression(source, tree, tuple(dict.fromkeys(names)))


class Evaluator:
    """One simpleeval instance reused for every message."""

    def __init__(self) -> None:
        self._eval = simpleeval.SimpleEval(functions=FUNCTIONS)

    def value(self, expression: Expression, names: dict[str, Any]) -> tuple[Any, str | None]:
        self._eval.names = names
        try:
            return self._eval.eval(expression.source, previously_parsed=expression.tree), None
        except (TypeError, ValueError, ArithmeticError, KeyError, simpleeval.InvalidExpression) as exc:
            return None, f"{expression.source!r}: {type(exc).__name__}: {exc}"
