"""Closures over a checked condition's tree: the hot path's evaluator, with simpleeval's own operators.

simpleeval walks the tree on every call (about 3 us for `value > 60 and rate > 0.05`), which caps the
engine near 40,000 readings/s. Conditions made only of names, constants, comparisons, and/or/not and
arithmetic are turned once into nested closures that call the very operator functions simpleeval
would (its `DEFAULT_OPERATORS`, including its size-guarded `safe_add`/`safe_mult`/`safe_power`), so
both give the same answer (a property test holds them to it). Anything else (a function call) is
left to simpleeval. The tree was checked at load either way; nothing here parses text.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

import simpleeval

Closure = Callable[[Mapping[str, Any]], Any]
_OPS: dict[type, Callable[..., Any]] = simpleeval.DEFAULT_OPERATORS
_CONSTANT_NAMES = {"True": True, "False": False, "None": None}


def closure(tree: ast.AST) -> Closure | None:
    """A closure computing the expression from the names mapping, or None where simpleeval should."""
    try:
        return _build(tree.body if isinstance(tree, ast.Expression) else tree)
    except _UnsupportedError:
        return None


class _UnsupportedError(Exception):
    pass


def _build(node: ast.AST) -> Closure:
    match node:
        case ast.Expr(value=inner):
            return _build(inner)
        case ast.Constant(value=v):
            return lambda _names: v
        case ast.Name(id=name) if name in _CONSTANT_NAMES:
            c = _CONSTANT_NAMES[name]
            return lambda _names: c
        case ast.Name(id=name):
            return lambda names: names[name]
        case ast.Compare(left=left, ops=[op], comparators=[right]):
            f, a, b = _OPS[type(op)], _build(left), _build(right)
            return lambda names: f(a(names), b(names))
        case ast.Compare(left=left, ops=ops, comparators=rights):
            return _chain(_build(left), [(_OPS[type(o)], _build(r)) for o, r in zip(ops, rights, strict=True)])
        case ast.BoolOp(op=ast.And(), values=values):
            return _all([_build(v) for v in values])
        case ast.BoolOp(op=ast.Or(), values=values):
            return _any([_build(v) for v in values])
        case ast.UnaryOp(op=op, operand=operand) if type(op) in _OPS:
            f1, a1 = _OPS[type(op)], _build(operand)
            return lambda names: f1(a1(names))
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _OPS:
            f2, a2, b2 = _OPS[type(op)], _build(left), _build(right)
            return lambda names: f2(a2(names), b2(names))
    raise _UnsupportedError


def _chain(first: Closure, rest: list[tuple[Callable[..., Any], Closure]]) -> Closure:
    def run(names: Mapping[str, Any]) -> Any:
        left, result = first(names), True
        for op, part in rest:
            right = part(names)
            result = op(left, right)
            if not result:
                return result
            left = right
        return result

    return run


def _all(parts: list[Closure]) -> Closure:
    def run(names: Mapping[str, Any]) -> Any:
        out: Any = True
        for part in parts:
            out = part(names)
            if not out:
                return out
        return out

    return run


def _any(parts: list[Closure]) -> Closure:
    def run(names: Mapping[str, Any]) -> Any:
        out: Any = False
        for part in parts:
            out = part(names)
            if out:
                return out
        return out

    return run
