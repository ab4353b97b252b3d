from __future__ import annotations

from gridedge.edge.event import EventStatus
from gridedge.vision.dwell import Dwell, Phase, step

LIMITS = {"dwell_s": 10.0, "clear_s": 3.0, "update_s": 60.0}


def run(timeline: list[tuple[float, bool]]) -> list[tuple[float, EventStatus]]:
    state, out = Dwell(), []
    for ts, occupied in timeline:
        state, status = step(state, ts, occupied, **LIMITS)
        if status is not None:
            out.append((ts, status))
    return out


def every_second(start: int, end: int, occupied: bool) -> list[tuple[float, bool]]:
    return [(float(t), occupied) for t in range(start, end)]


def test_fires_once_after_the_dwell_limit_and_resolves_when_clear() -> None:
    timeline = every_second(0, 40, True) + every_second(40, 50, False)
    assert run(timeline) == [
        (10.0, EventStatus.FIRING),
        (42.0, EventStatus.RESOLVED),
    ]  # clear 3 s after last seen at 39


def test_a_short_stay_is_not_a_violation() -> None:
    assert run(every_second(0, 8, True) + every_second(8, 30, False)) == []


def test_brief_gaps_do_not_restart_the_count_or_resolve() -> None:
    flicker = [(float(t), t % 5 != 0) for t in range(1, 40)]  # occluded one second in five
    assert run(flicker) == [(11.0, EventStatus.FIRING)]


def test_a_standing_violation_republishes_as_updates_of_one_incident() -> None:
    statuses = [s for _, s in run(every_second(0, 200, True))]
    assert statuses == [EventStatus.FIRING, EventStatus.UPDATE, EventStatus.UPDATE, EventStatus.UPDATE]


def test_pending_that_clears_goes_back_to_clear() -> None:
    state, _ = step(Dwell(), 0.0, True, **LIMITS)
    state, status = step(state, 5.0, False, **LIMITS)
    assert status is None
    assert state.phase is Phase.CLEAR
