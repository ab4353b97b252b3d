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

from gridedge.rules.fastpath import Closure, closure
from gridedge.rules.model import RuleError

SYMBOLS = ("value", "point", "role", "unit", "device", "site")
WINDOW_SYMBOLS = ("avg", "min", "max", "count", "delta", "rate")  # only in rules with `window_s`
FUNCTIONS: dict[str, Any] = {"abs": abs, "round": round}


class ConditionError(RuleError):
    def __init__(self, rule_id: str, field: str, column: int, message: str) -> None:
        self.column = column
        super().__init__(rule_id, f"{field} column {column}", message)
        self.field = field


_EVALUATOR_NODES = frozenset(simpleeval.SimpleEval().nodes)


@dataclass(frozen=True, slots=True)
class Condition:
    source: str
    tree: ast.AST
    names: frozenset[str]  # the symbols it reads, so the engine computes only those
    fast: Closure | None  # the same expression as closures (fastpath.py), where it has that shape


def compile_condition(source: str, rule_id: str, field: str, windowed: bool = False) -> Condition:
    try:
        tree = simpleeval.SimpleEval.parse(source)
    except SyntaxError as exc:
        raise ConditionError(rule_id, field, exc.offset or 1, f"syntax error: {exc.msg}") from None
    known = SYMBOLS + WINDOW_SYMBOLS if windowed else SYMBOLS
    names: set[str] = set()
    for node in ast.walk(tree):
        column = getattr(node, "col_offset", 0) + 1
        if isinstance(node, ast.Attribute):
            raise ConditionError(rule_id, field, column, "attribute access is not allowed in a condition")
        if type(node) not in _EVALUATOR_NODES and not isinstance(
            node, ast.expr_context | ast.operator | ast.cmpop | ast.boolop | ast.unaryop | ast.keyword
        ):
            raise ConditionError(rule_id, field, column, f"{type(node).__name__} is not allowed in a condition")
        if not isinstance(node, ast.Name) or node.id in FUNCTIONS or node.id in ("True", "False", "None"):
            continue
        if node.id in WINDOW_SYMBOLS and not windowed:
            raise ConditionError(rule_id, field, column, f"{node.id!r} needs `window_s` in the rule")
        if node.id not in known:
            raise ConditionError(rule_id, field, column, f"unknown name {node.id!r}; known: {', '.join(known)}")
        names.add(node.id)
    return Condition(source, tree, frozenset(names), closure(tree))


class Evaluator:
    """One simpleeval instance reused for every evaluation (no per-reading allocation of the evaluator)."""

    def __init__(self) -> None:
        self._eval = simpleeval.SimpleEval(functions=FUNCTIONS)

    def holds(self, condition: Condition, names: Mapping[str, Any]) -> bool:
        try:
            if condition.fast is not None:
                return bool(condition.fast(names))
            self._eval.names = names
            return bool(self._eval.eval(condition.source, previously_parsed=condition.tree))
        except (TypeError, ValueError, ArithmeticError, KeyError, simpleeval.InvalidExpression):
            return False  # e.g. comparing a string with a number: the hazard is not shown to hold
