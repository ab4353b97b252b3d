"""Labelled clips (a video plus a YAML sidecar: the camera's zones and the true violation intervals)
and event-level scoring of the pipeline on them. The format is documented in docs/vision.md."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
from pydantic import Field

from gridedge.edge.config import StrictModel, load_yaml
from gridedge.edge.event import EventStatus
from gridedge.vision.config import CameraConfig
from gridedge.vision.detector.base import Image
from gridedge.vision.events import VisionEvent
from gridedge.vision.pipeline import CameraPipeline
from gridedge.vision.state import capture_reference

MATCH_SLACK_S = 5.0
OPEN_SLACK_S = 15.0  # beyond its zone's clear_s: an incident open longer after its cause ended is left open


class TrueViolation(StrictModel):
    zone: str
    category: str
    start: float = Field(ge=0, description="Seconds from the clip's start.")
    end: float = Field(ge=0)


class LabelledClip(StrictModel):
    video: str = Field(description="Video file, relative to the sidecar.")
    reference: str | None = Field(
        default=None, description="The empty scene as the installer captured it (an image, relative to the sidecar)."
    )
    camera: CameraConfig
    truth: list[TrueViolation] = Field(default_factory=list)


def file_frames(path: Path, analyse_fps: float) -> Iterator[tuple[float, Image]]:
    """Frames of a video file at the analysis rate, timed by the file (not the wall clock); frames in
    between are grabbed but not decoded to pixels."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        every = max(1, round(fps / analyse_fps))
        index = 0
        while cap.grab():
            if index % every == 0:
                ok, frame = cap.retrieve()
                if not ok:
                    break
                yield index / fps, frame
            index += 1
    finally:
        cap.release()


def run_clip(sidecar: Path, pipeline: CameraPipeline | None = None) -> tuple[LabelledClip, list[VisionEvent]]:
    clip, events, _ = play_clip(sidecar, pipeline)
    return clip, events


def play_clip(sidecar: Path, pipeline: CameraPipeline | None = None) -> tuple[LabelledClip, list[VisionEvent], float]:
    """The clip, what the pipeline reported on it, and the time of its last frame."""
    clip = load_yaml(sidecar, LabelledClip)
    events: list[VisionEvent] = []
    last = 0.0
    with tempfile.TemporaryDirectory(prefix="gridedge-clip-") as tmp:
        if pipeline is None:
            state = None
            if clip.reference is not None:
                image = cv2.imread(str(sidecar.parent / clip.reference), cv2.IMREAD_COLOR)
                if image is None:
                    raise FileNotFoundError(sidecar.parent / clip.reference)
                state = Path(tmp)
                capture_reference(state, image)
            pipeline = CameraPipeline(clip.camera, state_dir=state)
        for ts, frame in file_frames(sidecar.parent / clip.video, clip.camera.analyse_fps):
            events.extend(pipeline.process(frame, ts))
            last = ts
    return clip, events, last


@dataclass(frozen=True)
class Score:
    true_positives: int
    false_positives: int
    false_negatives: int
    latencies: list[float]  # seconds from a violation's start to its event
    repeats: int = 0  # firings for a violation already reported (counted among false positives too)
    left_open: int = 0  # incidents still open well after their cause was gone (or that never had one)
    clips: int = field(default=1)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        real = self.true_positives + self.false_negatives
        return self.true_positives / real if real else 1.0

    def __add__(self, other: Score) -> Score:
        return Score(
            self.true_positives + other.true_positives,
            self.false_positives + other.false_positives,
            self.false_negatives + other.false_negatives,
            self.latencies + other.latencies,
            self.repeats + other.repeats,
            self.left_open + other.left_open,
            self.clips + other.clips,
        )


def _incident(e: VisionEvent) -> tuple[str | None, str, int | None, float]:
    return e.zone, e.category, e.object_id, e.started_at


def score(
    truth: list[TrueViolation], events: list[VisionEvent], *, clip_end: float | None = None, clear_s: float = 10.0
) -> Score:
    """Event level: each firing matches at most one true violation of its zone and category that was
    going on when it fired; unmatched firings are false positives (a repeat when the violation was
    already reported), unmatched violations misses. With `clip_end`, an incident still open more than
    `clear_s` + OPEN_SLACK_S after its cause ended (for a false alarm: after it fired) is left open."""
    unmatched = list(truth)
    tp, fp, repeats, left_open, latencies = 0, 0, 0, 0, []
    resolved = {_incident(e): e.observed_at for e in events if e.status is EventStatus.RESOLVED}
    for e in (e for e in events if e.status is EventStatus.FIRING):
        going_on = [
            t
            for t in truth
            if t.zone == e.zone and t.category == e.category and t.start <= e.observed_at <= t.end + MATCH_SLACK_S
        ]
        match = next((t for t in going_on if t in unmatched), None)
        cause_end = e.observed_at
        if match is None:
            fp += 1
            repeats += bool(going_on)
            cause_end = max([t.end for t in going_on], default=e.observed_at)
        else:
            unmatched.remove(match)
            tp += 1
            latencies.append(e.observed_at - match.start)
            cause_end = match.end
        ended = resolved.get(_incident(e))
        due = cause_end + clear_s + OPEN_SLACK_S
        if clip_end is not None and due <= clip_end and (ended is None or ended > due):
            left_open += 1
    return Score(tp, fp, len(unmatched), latencies, repeats, left_open)


HEADER = f"{'clip':<26}{'truth':>6}{'tp':>4}{'fp':>4}{'fn':>4}{'repeat':>7}{'open':>5}  latency s"


def clip_score(sidecar: Path) -> Score:
    """The pipeline's score on one labelled clip, with repeats and incidents left open."""
    clip, events, last = play_clip(sidecar)
    clear_s = max((z.clear_s for z in clip.camera.zones), default=10.0)
    return score(clip.truth, events, clip_end=last, clear_s=clear_s)


def score_line(name: str, s: Score) -> str:
    lat = " ".join(f"{v:.1f}" for v in s.latencies) or "-"
    truth = s.true_positives + s.false_negatives
    return (
        f"{name:<26}{truth:>6}{s.true_positives:>4}{s.false_positives:>4}{s.false_negatives:>4}"
        f"{s.repeats:>7}{s.left_open:>5}  {lat}"
    )


def totals_line(total: Score) -> str:
    median = f"{statistics.median(total.latencies):.1f} s" if total.latencies else "-"
    return (
        f"{total.clips} clips: precision {total.precision:.2f}  recall {total.recall:.2f}  repeats {total.repeats}  "
        f"left open {total.left_open}  median time to event {median}"
    )
