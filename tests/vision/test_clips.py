"""The pipeline on generated clips with scripted ground truth (dwell 15 s, clear 3 s)."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from gridedge.edge.event import EventStatus
from gridedge.simulators.scenes import EBIKE_INDOOR, OUTSIDE_SHOP
from gridedge.vision.clips import run_clip, score
from gridedge.vision.source import StreamLostError, frames

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


def test_a_25_fps_file_is_analysed_at_exactly_the_asked_rate(tmp_path: Path) -> None:
    """Frames are picked on a fixed grid: `now + period` drifted a frame late each time (4.4 of 5 fps)."""
    video = tmp_path / "grid.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (64, 48))
    for i in range(25):
        writer.write(np.full((48, 64, 3), i * 10 % 255, np.uint8))
    writer.release()
    ticks = itertools.count()
    analysed: list[float] = []

    def play() -> None:
        for ts, _, _ in frames(str(video), 5.0, lambda: False, clock=lambda: 1.7e9 + next(ticks) / 25):
            analysed.append(ts)

    with pytest.raises(StreamLostError, match="ended"):
        play()
    assert [round(ts - 1.7e9, 3) for ts in analysed] == [0.0, 0.2, 0.4, 0.6, 0.8]
