"""The six-step state machine, table-driven: every allowed step, and every other one refused clearly."""

from __future__ import annotations

import itertools

import pytest

from gridedge.center.workflow import (
    OPEN_STATES,
    TRANSITIONS,
    Action,
    CaseState,
    WorkflowError,
    apply,
    higher_level,
    next_actions,
)
from gridedge.edge.grid import Level

S, A = CaseState, Action

ALLOWED = [
    (S.REPORTED, A.VERIFY, S.FILED),
    (S.REPORTED, A.REJECT, S.REJECTED),
    (S.FILED, A.DISPATCH, S.DISPATCHED),
    (S.DISPATCHED, A.HANDLE, S.HANDLED),
    (S.HANDLED, A.CLOSE, S.CLOSED),
    (S.HANDLED, A.SEND_BACK, S.DISPATCHED),
    (S.CLOSED, A.EVALUATE, S.EVALUATED),
]


@pytest.mark.parametrize(("before", "action", "after"), ALLOWED)
def test_each_allowed_step(before: CaseState, action: Action, after: CaseState) -> None:
    step = apply(before, action, comment="checked on site", unit="fire-1")
    assert (step.before, step.action, step.after) == (before, action, after)
    assert step.comment == "checked on site"


def test_the_table_is_exactly_the_six_steps() -> None:
    assert {(b, a): c for b, a, c in ALLOWED} == TRANSITIONS


ILLEGAL = [(s, a) for s, a in itertools.product(CaseState, Action) if (s, a) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_every_other_step_is_refused_naming_what_is_allowed(state: CaseState, action: Action) -> None:
    with pytest.raises(WorkflowError, match=f"cannot {action.value} a case that is {state.value}; allowed: "):
        apply(state, action, comment="x", unit="u")


def test_finished_cases_say_so() -> None:
    with pytest.raises(WorkflowError, match="allowed: nothing"):
        apply(S.EVALUATED, A.CLOSE)
    with pytest.raises(WorkflowError, match="allowed: nothing"):
        apply(S.REJECTED, A.VERIFY)


@pytest.mark.parametrize(
    ("state", "action"), [(S.REPORTED, A.REJECT), (S.DISPATCHED, A.HANDLE), (S.HANDLED, A.SEND_BACK)]
)
def test_refusal_feedback_and_send_back_need_a_comment(state: CaseState, action: Action) -> None:
    with pytest.raises(WorkflowError, match="needs a comment"):
        apply(state, action, comment="   ")


def test_dispatch_needs_a_unit() -> None:
    with pytest.raises(WorkflowError, match="needs the unit"):
        apply(S.FILED, A.DISPATCH)


def test_buttons_follow_the_table() -> None:
    assert next_actions(S.REPORTED) == [A.VERIFY, A.REJECT]
    assert next_actions(S.HANDLED) == [A.CLOSE, A.SEND_BACK]
    assert next_actions(S.EVALUATED) == []
    assert {s for s in CaseState if next_actions(s) and s is not S.CLOSED} == OPEN_STATES


def test_levels_rise_to_the_district_and_stop() -> None:
    assert higher_level(Level.GRID) is Level.COMMUNITY
    assert higher_level(Level.STREET) is Level.DISTRICT
    assert higher_level(Level.DISTRICT) is None
