"""Camera sources through OpenCV: RTSP/HTTP URLs, video files and local devices, at the analysis rate.

Only the frames that will be analysed are decoded to pixels (`grab` the rest). Reads are bounded by
timeouts so a dead RTSP peer ends the session instead of hanging it; the worker then reconnects.
A video file is played at its own frame rate, as a camera would send it, and its end is a dropped
stream (tests and the demo use this to exercise reconnects).

`still` takes one frame of another stream of the same camera, for evidence: the main stream when a
lower-resolution one is analysed. A live stream is opened and its first frame taken (decoding the main
stream all the time would cost what analysing the substream saves); a file is taken at the analysed
stream's position, so the two stay the same moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2

from gridedge.vision.detector.base import Image

OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 5000


class StreamLostError(Exception):
    """The camera could not be opened or stopped sending frames."""


def is_file(source: str) -> bool:
    return "://" not in source and not source.isdigit()


def open_capture(source: str) -> cv2.VideoCapture:
    if source.isdigit():
        cap = cv2.VideoCapture(int(source))
    elif is_file(source) and not Path(source).is_file():
        raise StreamLostError(f"no such file: {source}")
    else:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
        cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        raise StreamLostError(f"cannot open {source}")
    return cap


def frames(
    source: str,
    analyse_fps: float,
    stopped: Callable[[], bool],
    clock: Callable[[], float] = time.time,
) -> Iterator[tuple[float, Image, float]]:
    """Frames of one session with the camera, timestamped by `clock`, each with its position in the stream
    (seconds); raises StreamLostError when it ends."""
    cap = open_capture(source)
    paced = is_file(source)
    try:
        period = 1.0 / (cap.get(cv2.CAP_PROP_FPS) or 25.0) if paced else 0.0
        next_due = 0.0
        step = 1.0 / analyse_fps
        slack = 0.1 * step
        start = time.monotonic()
        index = 0
        while not stopped():
            if paced:  # play a file in real time
                time.sleep(max(0.0, start + index * period - time.monotonic()))
            if not cap.grab():
                raise StreamLostError(f"{source}: stream ended")
            index += 1
            now = clock()
            if now < next_due - slack:  # a frame a little early for its slot takes it
                continue
            ok, frame = cap.retrieve()
            if not ok:
                raise StreamLostError(f"{source}: cannot decode frame")
            # On a fixed grid, not `now + step`: that drifts late by up to a frame each time, and a
            # 25 fps source analysed at 5 gave 4.4 frames/s. The first frame, or one after a stall,
            # starts the grid again.
            next_due = (next_due if now - next_due < step else now) + step
            yield now, frame, (index - 1) * period if paced else 0.0
    finally:
        cap.release()


def still(source: str, position_s: float = 0.0) -> Image:
    """One frame of `source`: the next one of a live stream, the one at `position_s` of a file."""
    cap = open_capture(source)
    try:
        if is_file(source) and position_s > 0:
            cap.set(cv2.CAP_PROP_POS_MSEC, position_s * 1000)
        ok, frame = cap.read()
        if not ok:
            raise StreamLostError(f"{source}: no frame")
        return frame
    finally:
        cap.release()
