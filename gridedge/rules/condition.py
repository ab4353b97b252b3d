"""Rule conditions: parsed and checked once at load, evaluated safely by simpleeval.

simpleeval was chosen over CEL because it evaluates a pre-parsed expression in about 2 us with no
native dependency, refuses everything that is not a plain expression (no attribute access to
dunders, no imports, no assignments), and its syntax is the Python comparison syntax integrators
already read in our YAML examples. We still walk the tree at load so an unknown name or an
unsupported construct fails with the rule's name and the column, not on the first matching reading.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import simpleeval

SYMBOLS = ("value", "point", "role", "unit", "device")
FUNCTIONS: dict[str, Any] = {"abs": abs, "min": min, "max": max, "round": round}


class ConditionError(ValueError):
    def __init__(self, rule_id: str, field: str, column: int, message: str) -> None:
        self.rule_id, self.field, self.column = rule_id, field, column
        super().__init__(f"rule {rule_id!r}, {field} column {column}: {message}")


_EVALUATOR_NODES = frozenset(simpleeval.SimpleEval().nodes)


@dataclass(frozen=True, slots=True)
class Condition:
    source: str
    tree: ast.AST


def compile_condition(source: str, rule_id: str, field: str) -> Condition:
    try:
        tree = simpleeval.SimpleEval.parse(source)
    except SyntaxError as exc:
        raise ConditionError(rule_id, field, exc.offset or 1, f"syntax error: {exc.msg}") from None
    for node in ast.walk(tree):
        column = getattr(node, "col_offset", 0) + 1
        if isinstance(node, ast.Attribute):
            raise ConditionError(rule_id, field, column, "attribute access is not allowed in a condition")
        if type(node) not in _EVALUATOR_NODES and not isinstance(
            node, ast.expr_context | ast.operator | ast.cmpop | ast.boolop | ast.unaryop | ast.keyword
        ):
            raise ConditionError(rule_id, field, column, f"{type(node).__name__} is not allowed in a condition")
        if (
            isinstance(node, ast.Name)
            and node.id not in SYMBOLS
            and node.id not in FUNCTIONS
            and node.id not in ("True", "False", "None")
        ):
            raise ConditionError(rule_id, field, column, f"unknown name {node.id!r}; known: {', '.join(SYMBOLS)}")
    return Condition(source, tree)


class Evaluator:
    """One simpleeval instance reused for every evaluation (no per-reading allocation of the evaluator)."""

    def __init__(self) -> None:
        self._eval = simpleeval.SimpleEval(functions=FUNCTIONS)

    def holds(self, condition: Condition, names: Mapping[str, Any]) -> bool:
        self._eval.names = names
        try:
            return bool(self._eval.eval(condition.source, previously_parsed=condition.tree))
        except (TypeError, ValueError, ArithmeticError, simpleeval.InvalidExpression):
            return False  # e.g. comparing a string with a number: the hazard is not shown to hold
