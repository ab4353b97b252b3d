"""The closure evaluator agrees with simpleeval on every expression and value it takes."""

from __future__ import annotations

from typing import Any

import simpleeval
from hypothesis import given
from hypothesis import strategies as st

from gridedge.rules.condition import FUNCTIONS, compile_condition
from gridedge.rules.model import BUILTIN_PACKS, load_rule_pack

EXPRESSIONS = sorted(
    {r.condition for p in BUILTIN_PACKS.glob("*.yaml") for r in load_rule_pack(p).rules if r.condition}
    | {r.clear for p in BUILTIN_PACKS.glob("*.yaml") for r in load_rule_pack(p).rules if r.clear}
    | {
        "not value",
        "-value < 3 < avg",
        "value * 2 + 1 >= max - min",
        "value / count > 1 or delta % 3 == 1",
        "value != 'on' and value == True",
        "10 < value <= 20",
    }
)
VALUES = st.one_of(st.booleans(), st.integers(-100, 100), st.floats(-1e6, 1e6), st.sampled_from(["on", ""]), st.none())


def _reference(source: str, names: dict[str, Any]) -> Any:
    try:
        return ("ok", bool(simpleeval.SimpleEval(names=names, functions=FUNCTIONS).eval(source)))
    except (TypeError, ValueError, ArithmeticError, simpleeval.InvalidExpression):
        return ("error", True)


@given(
    source=st.sampled_from(EXPRESSIONS),
    value=VALUES,
    aggregates=st.fixed_dictionaries({k: st.floats(-100, 100) for k in ("avg", "min", "max", "delta", "rate")}),
    count=st.integers(0, 5),
)
def test_closures_agree_with_simpleeval(source: str, value: Any, aggregates: dict[str, float], count: int) -> None:
    condition = compile_condition(source, "r", "condition", windowed=True)
    assert condition.fast is not None, source
    names = {"value": value, "count": count, **aggregates}
    expected = _reference(source, names)
    try:
        got: Any = ("ok", bool(condition.fast(names)))
    except (TypeError, ValueError, ArithmeticError, KeyError):
        got = ("error", True)
    assert got == expected


def test_a_function_call_is_left_to_simpleeval() -> None:
    assert compile_condition("abs(value) > 3", "r", "condition").fast is None
