"""Scenario `vision`: detector latency per backend, camera pipeline throughput, cameras per gateway.

- `{backend}_ms_{size}`: median wall ms per 1280x720 frame (letterboxed into a size x size input, 2
  threads), and `{backend}_cpu_ms_{size}` the CPU ms it costs (steadier on a shared machine), for
  every YOLO ONNX model found as `*-320.onnx` / `*-640.onnx` in $GRIDEDGE_BENCH_MODELS or
  models/gridedge-scenes/ (a yolov8n-size model gives the figures the issue quotes).
- `gated_fps`: frames/s one camera's pipeline (motion gate, stillness, static objects, dwell, and the
  320 detector on 1 thread when the gate opens, if a model is found) analyses on 1280x720 frames of a
  generated shopfront clip; `detector_run_fraction` is how often the gate let the detector run (a
  generated scene is calmer than a street, so real footage opens the gate more often).
- `decode_ms_per_frame`: decoding one 1280x720 frame of the 25 fps source (every frame must be
  decoded, analysed or not). The source is MPEG-4 Part 2: opencv-python-headless has no H.264
  encoder to make one; H.264 decode costs the same order.
- `cameras_at_5fps`: an estimate, not a multi-camera run: how many cameras, each decoding 25 fps and
  analysing 5 fps, fit in 80 % of the machine's cores (20 % left for sensors, rules and uplink), from
  the per-camera CPU cost measured above. Sensor alarm latency under that load is not measured here.
Bounded by the clip length (QUICK_S or FULL_S seconds of video) and REPEATS detector runs.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2

from bench.harness import Measured
from gridedge.simulators.scenes import goods_left, scene_frames
from gridedge.vision.clips import file_frames
from gridedge.vision.config import CameraConfig, OnnxDetector, OpenCvDnnDetector, ZoneConfig
from gridedge.vision.detector import make_detector
from gridedge.vision.detector.base import Image
from gridedge.vision.pipeline import CameraPipeline

QUICK_S, FULL_S = 6.0, 30.0
REPEATS = 30
SOURCE_FPS = 25.0
ANALYSED_FPS = 5.0
SIZE = (1280, 720)


def _models() -> list[Path]:
    folder = Path(os.environ.get("GRIDEDGE_BENCH_MODELS", Path(__file__).parents[2] / "models" / "gridedge-scenes"))
    return sorted(folder.glob("*-320.onnx")) + sorted(folder.glob("*-640.onnx"))


def _clip(directory: Path, seconds: float) -> Path:
    scene = replace(goods_left(duration=seconds, placed=1.0, removed=seconds - 1), size=SIZE, fps=SOURCE_FPS)
    path = directory / "source.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), SOURCE_FPS, SIZE)
    for frame in scene_frames(scene):
        writer.write(frame)
    writer.release()
    return path


def _detector_ms(frame: Image, model: Path, backend: str) -> tuple[float, float]:
    """Median wall ms and mean CPU ms (all threads) per detection; on a shared machine the CPU
    figure is the steadier one."""
    size = int(model.stem.rsplit("-", 1)[1])
    config = (
        OnnxDetector(model=str(model), imgsz=size, threads=2)
        if backend == "onnx"
        else OpenCvDnnDetector(model=str(model), imgsz=size)
    )
    detector = make_detector(config)
    detector.detect(frame)
    times = []
    cpu = time.process_time()
    for _ in range(REPEATS):
        t = time.perf_counter()
        detector.detect(frame)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), (time.process_time() - cpu) * 1000 / REPEATS


def run(quick: bool) -> Measured:
    seconds = QUICK_S if quick else FULL_S
    figures: dict[str, float] = {}
    notes: dict[str, str] = {
        "source": f"{SIZE[0]}x{SIZE[1]} MPEG-4 Part 2 at {SOURCE_FPS:g} fps",
        "load_average_at_start": f"{os.getloadavg()[0]:.1f}",  # other work on the machine skews every figure
    }
    with tempfile.TemporaryDirectory() as tmp:
        clip = _clip(Path(tmp), seconds)

        cap = cv2.VideoCapture(str(clip))
        frames, t = 0, time.process_time()
        while cap.grab():
            frames += 1
        cap.release()
        decode_s = (time.process_time() - t) / max(1, frames)
        figures["decode_ms_per_frame"] = decode_s * 1000

        zone = ZoneConfig(name="pavement", polygon=[(0, 0.6), (1, 0.6), (1, 1), (0, 1)], category="x.y", dwell_s=5)
        small = [m for m in _models() if m.stem.endswith("-320")]
        detector = OnnxDetector(model=str(small[0]), imgsz=320, threads=1) if small else None
        camera = CameraConfig(id="bench", zones=[zone], analyse_fps=ANALYSED_FPS, detector=detector)
        pipeline = CameraPipeline(camera)
        analysed = list(file_frames(clip, ANALYSED_FPS))
        t = time.process_time()
        for ts, frame in analysed:
            pipeline.process(frame, ts)
        analyse_s = (time.process_time() - t) / len(analysed)
        figures["gated_fps"] = 1.0 / analyse_s
        figures["detector_run_fraction"] = pipeline.detector_runs / pipeline.frames
        notes["gated_fps"] = (
            f"with detector {small[0].name} on 1 thread when the gate opens" if small else "no detector"
        )

        per_camera = SOURCE_FPS * decode_s + ANALYSED_FPS * analyse_s  # CPU seconds per second of video
        figures["cpu_per_camera"] = per_camera
        figures["cameras_at_5fps"] = float(int(0.8 * (os.cpu_count() or 1) / per_camera))

        frame = analysed[len(analysed) // 2][1]
        for model in _models():
            size = model.stem.rsplit("-", 1)[1]
            for backend in ("onnx", "opencv_dnn"):
                figures[f"{backend}_ms_{size}"], figures[f"{backend}_cpu_ms_{size}"] = _detector_ms(
                    frame, model, backend
                )
            notes[f"model_{size}"] = model.name
    if not _models():
        notes["detector"] = "no *-320.onnx / *-640.onnx model found: detector figures skipped"
    return Measured(figures, f"{seconds:g} s of video, {REPEATS} detector runs per model and backend", notes)
