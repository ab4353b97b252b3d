"""Restarts and install: the installer's empty-scene reference, and the learnt background and open
objects carried across a restart of the pipeline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from gridedge.edge.event import EventStatus
from gridedge.vision.pipeline import CameraPipeline
from gridedge.vision.state import CAPTURE, LEARNT, REFERENCE, capture_reference, request_capture
from tests.vision.test_background import street
from tests.vision.test_pipeline import Box, camera, frames

GOODS = Box(100, 260, 60, 50, (40, 100, 170), since=1, until=30)
OUT_AT_START = Box(100, 260, 60, 50, (40, 100, 170), since=0, until=30)


def test_a_restarted_pipeline_keeps_its_objects_never_fires_twice_and_resolves_on_removal(tmp_path: Path) -> None:
    before = CameraPipeline(camera(), state_dir=tmp_path)
    events = [e for ts, f in frames(40, [GOODS]) if ts < 15 for e in before.process(f, ts)]
    (fired,) = events
    assert fired.status is EventStatus.FIRING
    assert (tmp_path / LEARNT).is_file()
    del before  # the process is gone; only what it wrote survives
    after = CameraPipeline(camera(), state_dir=tmp_path)
    events = [e for ts, f in frames(40, [GOODS]) if ts >= 15 for e in after.process(f, ts)]
    (resolved,) = events
    assert resolved.status is EventStatus.RESOLVED
    assert (resolved.object_id, resolved.started_at) == (fired.object_id, fired.started_at)
    assert 30 <= resolved.observed_at <= 35


def test_goods_out_at_start_are_seen_against_the_installers_reference_and_their_removal_is_no_ghost(
    tmp_path: Path,
) -> None:
    empty = next(frames(1, [], walkers=False))[1]
    capture_reference(tmp_path / "with", empty)
    seen = CameraPipeline(camera(), state_dir=tmp_path / "with")
    events = [e for ts, f in frames(40, [OUT_AT_START]) for e in seen.process(f, ts)]
    assert [e.status for e in events] == [EventStatus.FIRING, EventStatus.RESOLVED]

    unseen = CameraPipeline(camera(), state_dir=tmp_path / "without")  # no reference: the first frame is it
    assert [e for ts, f in frames(40, [OUT_AT_START]) for e in unseen.process(f, ts)] == []


def test_a_broken_state_file_is_ignored_not_fatal(tmp_path: Path) -> None:
    (tmp_path / LEARNT).write_bytes(b"not a numpy archive")
    pipeline = CameraPipeline(camera(), state_dir=tmp_path)
    frame = cv2.resize(street(), (640, 360)).astype(np.uint8)
    assert pipeline.process(frame, 0.0) == []


def test_the_installers_capture_takes_the_next_frame_as_the_empty_scene(tmp_path: Path) -> None:
    pipeline = CameraPipeline(camera(), state_dir=tmp_path)
    statuses = []
    for ts, frame in frames(30, [GOODS]):
        if ts == 12.0:  # the installer: "what is out there now belongs there" (a bench bolted down)
            request_capture(tmp_path)
        statuses += [(e.status, e.observed_at) for e in pipeline.process(frame, ts)]
    assert [s for s, _ in statuses] == [EventStatus.FIRING, EventStatus.RESOLVED]
    assert statuses[1][1] == 12.0
    assert (tmp_path / REFERENCE).is_file()
    assert not (tmp_path / CAPTURE).exists()
