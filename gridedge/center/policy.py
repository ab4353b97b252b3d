"""The centre's handling policy as configuration: starting level, time limits per step, dispatch rules.

"Small things stay in the grid" (小事不出格) is the default level; categories that are never small
(a fire) start higher. Category keys match a full code (`fire_safety.smoke_alarm`) or its major
class (`fire_safety`); the full code wins.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import Field

from gridedge.center.workflow import CaseState, level_rank
from gridedge.edge.config import StrictModel
from gridedge.edge.grid import Code, Level

T = TypeVar("T")

StepLimits = dict[CaseState, float]
"""Seconds a case may wait in a state before it rises to the next level."""

DEFAULT_LIMITS: StepLimits = {
    CaseState.REPORTED: 30 * 60,
    CaseState.FILED: 60 * 60,
    CaseState.DISPATCHED: 4 * 3600,
    CaseState.HANDLED: 60 * 60,
}


class Unit(StrictModel):
    """A responsible unit cases are dispatched to (a grid team, the fire station, urban management)."""

    code: Code
    name: str
    jurisdiction: tuple[Code, ...] = Field(default=(), max_length=4)
    """The part of the grid tree it serves; figures per unit count its cases."""


class DispatchRule(StrictModel):
    category: str = Field(description="Full category code or its major class.")
    unit: Code
    level: Level | None = None
    """Only for cases handled at this level; None for any level."""


class Policy(StrictModel):
    default_level: Level = Level.GRID
    """Where a case starts when nothing else says: small things stay in the grid."""
    levels: dict[str, Level] = Field(default_factory=dict)
    """Starting level by category or major class, e.g. {fire_safety: community}."""
    time_limits_s: dict[str, dict[CaseState, float]] = Field(default_factory=dict)
    """Per category or major class, seconds allowed per step; missing steps use `default_time_limits_s`."""
    default_time_limits_s: dict[CaseState, float] = Field(default_factory=lambda: dict(DEFAULT_LIMITS))
    units: list[Unit] = Field(default_factory=list)
    dispatch: list[DispatchRule] = Field(default_factory=list)
    """The first matching rule suggests the unit on the dispatch button."""
    fold_repeats: bool = True
    """Whether a new incident of a hazard (same gateway, category and `dedup_key`) whose case is still
    open folds into that case as an occurrence instead of opening another case."""
    fold: dict[str, bool] = Field(default_factory=dict)
    """Per category or major class, overriding `fold_repeats`, e.g. {street_order: false}."""


def _lookup(table: dict[str, T], category: str) -> T | None:
    if category in table:
        return table[category]
    return table.get(category.split(".", 1)[0])


def starting_level(policy: Policy, category: str, suggested: Level) -> Level:
    """The higher of the configured level and the one the gateway suggests."""
    configured = _lookup(policy.levels, category) or policy.default_level
    return max(configured, suggested, key=level_rank)


def time_limit(policy: Policy, category: str, state: CaseState) -> float | None:
    """Seconds a case of `category` may stay in `state`; None where the state has no limit."""
    own = _lookup(policy.time_limits_s, category) or {}
    return own.get(state, policy.default_time_limits_s.get(state))


def suggested_unit(policy: Policy, category: str, level: Level) -> str | None:
    major = category.split(".", 1)[0]
    for rule in policy.dispatch:
        if rule.category in (category, major) and rule.level in (None, level):
            return rule.unit
    return None


def folds_repeats(policy: Policy, category: str) -> bool:
    own = _lookup(policy.fold, category)
    return policy.fold_repeats if own is None else own
