"""The pipeline on generated clips with scripted ground truth (dwell 15 s, clear 3 s)."""

from __future__ import annotations

from pathlib import Path

from gridedge.edge.event import EventStatus
from gridedge.simulators.scenes import EBIKE_INDOOR, OUTSIDE_SHOP
from gridedge.vision.clips import run_clip, score

DWELL_S = 15.0


def test_goods_placed_in_the_zone_are_reported_once_after_the_dwell_and_resolve_when_removed(clips: Path) -> None:
    clip, events = run_clip(clips / "goods_left.yaml")
    truth = clip.truth[0]
    assert [e.status for e in events] == [EventStatus.FIRING, EventStatus.RESOLVED]
    firing, resolved = events
    assert firing.category == OUTSIDE_SHOP
    assert firing.zone == "pavement"
    assert truth.start + DWELL_S <= firing.observed_at <= truth.start + DWELL_S + 5
    assert truth.end <= resolved.observed_at <= truth.end + 8
    assert resolved.started_at == firing.started_at
    assert firing.snapshot is not None
    assert firing.snapshot[:2] == b"\xff\xd8"  # a JPEG


def test_passers_by_and_a_person_standing_a_while_are_not_reported(clips: Path) -> None:
    _, events = run_clip(clips / "passers_by.yaml")
    assert events == []


def test_an_ebike_entering_a_corridor_is_reported(clips: Path) -> None:
    clip, events = run_clip(clips / "ebike_corridor.yaml")
    assert [(e.status, e.category, e.zone) for e in events] == [(EventStatus.FIRING, EBIKE_INDOOR, "corridor")]
    s = score(clip.truth, events)
    assert (s.true_positives, s.false_positives, s.false_negatives) == (1, 0, 0)
    assert s.latencies[0] <= DWELL_S + 5
