"""The six-step case workflow (六步办理) as one table: which action moves a case from which state.

Pure: no I/O and no clock, so every transition and every refusal is tested table-driven. The store
records each step with who, when and a comment; escalation (a rising handling level) is beside
this table, not in it, because it changes who owns a case, not how far it has come.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridedge.edge.errors import GridEdgeError
from gridedge.edge.grid import Level


class CaseState(StrEnum):
    REPORTED = "reported"
    """1. collected and reported by a sensor, camera, gateway rule or person (采集上报)."""
    FILED = "filed"
    """2. verified as real and filed (核实立案)."""
    REJECTED = "rejected"
    """2'. verified as a false alarm; final."""
    DISPATCHED = "dispatched"
    """3. assigned to the responsible unit (指挥派遣)."""
    HANDLED = "handled"
    """4. the unit acted and fed back with evidence (处置反馈)."""
    CLOSED = "closed"
    """5. checked by the reporter side and closed (核查结案)."""
    EVALUATED = "evaluated"
    """6. timeliness and outcome scored (考核评价); final."""


class Action(StrEnum):
    VERIFY = "verify"
    REJECT = "reject"
    DISPATCH = "dispatch"
    HANDLE = "handle"
    CLOSE = "close"
    SEND_BACK = "send_back"
    """The check found the work not done: back to the unit, counted as a reopened case."""
    EVALUATE = "evaluate"


TRANSITIONS: dict[tuple[CaseState, Action], CaseState] = {
    (CaseState.REPORTED, Action.VERIFY): CaseState.FILED,
    (CaseState.REPORTED, Action.REJECT): CaseState.REJECTED,
    (CaseState.FILED, Action.DISPATCH): CaseState.DISPATCHED,
    (CaseState.DISPATCHED, Action.HANDLE): CaseState.HANDLED,
    (CaseState.HANDLED, Action.CLOSE): CaseState.CLOSED,
    (CaseState.HANDLED, Action.SEND_BACK): CaseState.DISPATCHED,
    (CaseState.CLOSED, Action.EVALUATE): CaseState.EVALUATED,
}

NEEDS_COMMENT = frozenset({Action.REJECT, Action.HANDLE, Action.SEND_BACK})
"""A refusal, the unit's feedback and a send-back must say why or what was done."""

OPEN_STATES = frozenset({CaseState.REPORTED, CaseState.FILED, CaseState.DISPATCHED, CaseState.HANDLED})
"""States in which a case waits for someone and can be late."""

LEVELS: tuple[Level, ...] = (Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT)


class WorkflowError(GridEdgeError):
    """An action refused: it names the action, the case's state and what would be allowed."""


@dataclass(frozen=True, slots=True)
class Step:
    """What an allowed action does; the store writes it with the officer and the time."""

    action: Action
    before: CaseState
    after: CaseState
    comment: str
    unit: str | None


def next_actions(state: CaseState) -> list[Action]:
    """The buttons a case in `state` shows, in workflow order."""
    return [action for (s, action) in TRANSITIONS if s is state]


def apply(state: CaseState, action: Action, *, comment: str = "", unit: str | None = None) -> Step:
    """The step `action` takes from `state`, or WorkflowError saying why it is refused."""
    after = TRANSITIONS.get((state, action))
    if after is None:
        allowed = ", ".join(next_actions(state)) or "nothing (the case is finished)"
        raise WorkflowError(f"cannot {action.value} a case that is {state.value}; allowed: {allowed}")
    if action in NEEDS_COMMENT and not comment.strip():
        raise WorkflowError(f"{action.value} needs a comment saying why or what was done")
    if action is Action.DISPATCH and not unit:
        raise WorkflowError("dispatch needs the unit the case is assigned to")
    return Step(action=action, before=state, after=after, comment=comment.strip(), unit=unit)


def higher_level(level: Level) -> Level | None:
    """The next handling level up, None at the district (the top)."""
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


def level_rank(level: Level) -> int:
    return LEVELS.index(level)
