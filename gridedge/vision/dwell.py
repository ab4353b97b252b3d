"""Dwell and inertia: one incident per violation, from "stayed long enough" to "zone clear again".

A pure state machine per zone. Occupied must hold (with gaps shorter than `clear_s` forgiven, so a
person walking in front of the goods does not restart the count) for `dwell_s` before the incident
fires; it then republishes at most every `update_s`, and resolves once the zone has been clear for
`clear_s`. A violation that stays is one case, never a new alert every minute.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from gridedge.edge.event import EventStatus


class Phase(StrEnum):
    CLEAR = "clear"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True, slots=True)
class Dwell:
    phase: Phase = Phase.CLEAR
    since: float = 0.0
    last_seen: float = 0.0
    published: float = 0.0


def step(
    state: Dwell, ts: float, occupied: bool, *, dwell_s: float, clear_s: float, update_s: float
) -> tuple[Dwell, EventStatus | None]:
    """The zone's next state at `ts`, and the revision to publish (if any)."""
    if occupied:
        if state.phase is Phase.CLEAR:
            return Dwell(Phase.PENDING, ts, ts), None
        state = replace(state, last_seen=ts)
        if state.phase is Phase.PENDING and ts - state.since >= dwell_s:
            return replace(state, phase=Phase.FIRING, published=ts), EventStatus.FIRING
        if state.phase is Phase.FIRING and ts - state.published >= update_s:
            return replace(state, published=ts), EventStatus.UPDATE
        return state, None
    if state.phase is Phase.CLEAR or ts - state.last_seen < clear_s:
        return state, None
    return Dwell(), EventStatus.RESOLVED if state.phase is Phase.FIRING else None
