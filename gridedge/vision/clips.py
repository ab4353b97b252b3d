"""Labelled clips (a video plus a YAML sidecar: the camera's zones and the true violation intervals)
and event-level scoring of the pipeline on them. The format is documented in docs/vision.md."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
from pydantic import Field

from gridedge.edge.config import StrictModel, load_yaml
from gridedge.edge.event import EventStatus
from gridedge.vision.config import CameraConfig
from gridedge.vision.detector.base import Image
from gridedge.vision.events import VisionEvent
from gridedge.vision.pipeline import CameraPipeline

MATCH_SLACK_S = 5.0


class TrueViolation(StrictModel):
    zone: str
    category: str
    start: float = Field(ge=0, description="Seconds from the clip's start.")
    end: float = Field(ge=0)


class LabelledClip(StrictModel):
    video: str = Field(description="Video file, relative to the sidecar.")
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
    clip = load_yaml(sidecar, LabelledClip)
    pipeline = pipeline or CameraPipeline(clip.camera)
    events: list[VisionEvent] = []
    for ts, frame in file_frames(sidecar.parent / clip.video, clip.camera.analyse_fps):
        events.extend(pipeline.process(frame, ts))
    return clip, events


@dataclass(frozen=True)
class Score:
    true_positives: int
    false_positives: int
    false_negatives: int
    latencies: list[float]  # seconds from a violation's start to its event

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
        )


def score(truth: list[TrueViolation], events: list[VisionEvent]) -> Score:
    """Event level: each firing matches at most one true violation of its zone and category that was
    going on when it fired; unmatched firings are false positives, unmatched violations misses."""
    unmatched = list(truth)
    tp, fp, latencies = 0, 0, []
    for e in (e for e in events if e.status is EventStatus.FIRING):
        match = next(
            (
                t
                for t in unmatched
                if t.zone == e.zone and t.category == e.category and t.start <= e.observed_at <= t.end + MATCH_SLACK_S
            ),
            None,
        )
        if match is None:
            fp += 1
        else:
            unmatched.remove(match)
            tp += 1
            latencies.append(e.observed_at - match.start)
    return Score(tp, fp, len(unmatched), latencies)
