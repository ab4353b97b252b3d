"""A background that follows the world and not the objects in it (a dual background, after Porikli 2008).

Two pictures of the scene: the long-term background (the empty scene: learnt slowly, never under a
tracked object) and the short-term one (learnt in about a second, everywhere). A pixel that differs
from the long-term background but not from the short-term one has stopped moving: a static candidate.
A per-pixel evidence count (up while static, down while moving, zero where the empty scene shows)
turns candidates into stable ones after `still_s`.

Lighting is handled before comparing, not by thresholds: the frame is compared in a lighting-robust
space (brightness relative to a local gain field estimated on background pixels, plus normalised
colour), so an exposure jump, a cloud or dusk costs nothing; a change that the gain cannot explain
over most of the frame (an IR day/night switch to grey, a street light) is a global change: the
long-term background is learnt again at once, except under tracked objects. A camera that is bumped
or shaken is registered against the long-term background by phase correlation, and every frame is
shifted back, so zones and objects stay anchored to the street.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

Picture = np.ndarray[Any, np.dtype[np.float32]]
Mask = np.ndarray[Any, np.dtype[np.bool_]]

LONG_RATE = 0.004  # per analysed frame, where the empty scene shows (about a minute at 5 fps)
SHORT_RATE = 0.25  # per analysed frame, everywhere: about a second at 5 fps
BRIGHTNESS_T = 0.13  # relative brightness difference (after the gain field) that counts as a change
CHROMA_T = 0.045  # normalised-colour difference that counts as a change
CHROMA_DARK = 40.0  # brightness added before normalising colour, so dark pixels' colour noise is damped
GAIN_GRID = (8, 5)  # blocks over which the gain field is estimated (columns, rows)
GLOBAL_FRACTION = 0.45  # of the background pixels changed at once: a global change...
GLOBAL_FRAMES = 3  # ...that lasts this many frames (a crowd in front of the camera does not)
REGISTER_WIDTH = 160  # phase correlation runs on a picture this wide
MIN_SHIFT = 0.7  # analysis pixels: smaller shifts are noise
MAX_SHIFT = 0.12  # of the width: beyond this the camera has moved, not shaken
GREY_SATURATION = 6.0  # mean colour spread of a frame below which it is grey (an IR night picture)

_3X3 = np.ones((3, 3), np.uint8)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One frame against the backgrounds, in analysis pixels."""

    frame: Picture  # the frame, shifted back onto the background
    long: Mask  # differs from the empty scene
    short: Mask  # differs from the last second: moving
    static: Mask  # stable static candidates (evidence for `still_s`)
    gain: Picture  # the frame relative to the long-term background, per pixel and channel
    global_change: bool  # the long-term background was learnt again in this frame
    shift: tuple[float, float]  # how far the frame was shifted back to the background's position
    colour: bool  # the frame has colour (not an IR night picture)


def grey(picture: Picture) -> Picture:
    return np.asarray(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), np.float32)


def _channel_max(picture: Picture) -> Picture:
    b, g, r = cv2.split(picture)
    return np.asarray(cv2.max(cv2.max(b, g), r), np.float32)


def chroma(picture: Picture) -> Picture:
    total = cv2.transform(picture, np.ones((1, 3), np.float32)) + CHROMA_DARK
    return np.asarray(cv2.divide(picture, cv2.merge([total, total, total])), np.float32)


def is_grey(picture: Picture) -> bool:
    b, g, r = cv2.split(picture)
    spread = cv2.max(cv2.max(b, g), r) - cv2.min(cv2.min(b, g), r)
    return float(cv2.mean(spread)[0]) < GREY_SATURATION


def difference(frame: Picture, background: Picture, gain: Picture, *, colour: bool = True) -> Picture:
    """How different each pixel is, in threshold units (> 1 is a change): brightness and (unless the
    frame is grey) normalised colour, against the background as the gain field says it looks now.
    `gain` is per pixel and channel (h, w, 3), or per pixel (h, w) for all channels alike."""
    seen = background * (gain if gain.ndim == 3 else gain[..., None])
    fi, bi = grey(frame), grey(np.asarray(seen, np.float32))
    bright = cv2.absdiff(fi, bi) / (0.5 * (fi + bi) + 16.0) * (1 / BRIGHTNESS_T)
    if not colour:
        return np.asarray(bright, np.float32)
    col = _channel_max(np.asarray(cv2.absdiff(chroma(frame), chroma(np.asarray(seen, np.float32))), np.float32))
    col = col * (1 / CHROMA_T)
    return np.asarray(cv2.max(bright, col), np.float32)


def gain_field(frame: Picture, background: Picture, usable: Mask) -> Picture:
    """Per pixel and channel, frame over background, estimated over blocks of `usable` (background)
    pixels and interpolated: follows exposure, tint, clouds and dusk, but not objects."""
    h, w = usable.shape
    m = usable.astype(np.float32)
    if m.mean() < 0.2:  # too little background to trust: estimate over everything
        m = np.ones_like(m)
    m3 = cv2.merge([m, m, m])
    grid = GAIN_GRID
    num = cv2.resize(frame * m3, grid, interpolation=cv2.INTER_AREA)
    den = cv2.resize(background * m3, grid, interpolation=cv2.INTER_AREA)
    cnt = cv2.resize(m, grid, interpolation=cv2.INTER_AREA)[..., None]
    overall = (num.sum(axis=(0, 1)) + 1) / (den.sum(axis=(0, 1)) + 1)
    blocks = np.where((cnt > 0.25) & (den > 1), num / np.maximum(den, 1e-3), overall)
    blocks = np.clip(blocks, overall / 2, overall * 2).astype(np.float32)
    return np.asarray(cv2.resize(blocks, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


def level(gain: Picture) -> Picture:
    """The brightness part of a per-channel gain field."""
    return grey(gain) if gain.ndim == 3 else gain


class Registration:
    """Where the camera points now relative to the background (phase correlation, sub-pixel)."""

    def __init__(self, width: int, height: int) -> None:
        self._scale = width / REGISTER_WIDTH
        self._size = (REGISTER_WIDTH, max(8, round(height / self._scale)))
        self._window = cv2.createHanningWindow(self._size, cv2.CV_32F)

    def shift(self, background: Picture, frame: Picture) -> tuple[float, float]:
        """(dx, dy) in analysis pixels by which the frame's content lies off the background's."""
        b = cv2.resize(background, self._size, interpolation=cv2.INTER_AREA)
        f = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        (dx, dy), _ = cv2.phaseCorrelate(b, f, self._window)
        return dx * self._scale, dy * self._scale


class DualBackground:
    def __init__(self, still_frames: int) -> None:
        self.long: Picture | None = None
        self.short: Picture | None = None
        self._evidence: np.ndarray[Any, np.dtype[np.int16]] | None = None
        self._still = max(1, still_frames)
        self._previous_long = np.zeros((1, 1), np.bool_)
        self._global_run = 0
        self._registration: Registration | None = None
        self.camera_moved = False  # the last frame was off by more than a shake: zones may not fit
        self.global_changes = 0
        self.moves = 0  # times the camera pointed too far off to shift back (its zones may no longer fit)
        self._long_grey = False

    def start(self, frame: Picture, reference: Picture | None = None) -> None:
        h, w = frame.shape[:2]
        self.long = (reference if reference is not None and reference.shape == frame.shape else frame).copy()
        self.short = frame.copy()
        self._evidence = np.zeros((h, w), np.int16)
        self._previous_long = np.zeros((h, w), np.bool_)
        self._registration = Registration(w, h)
        self._long_grey = is_grey(self.long)

    def align(self, frame: Picture) -> tuple[Picture, tuple[float, float]]:
        """The frame shifted back to where the long-term background has the street."""
        assert self.long is not None
        assert self._registration is not None
        # what moves or was left is no part of the street: the background stands in for it
        still = (
            np.where(self._previous_long[..., None], self.long, frame)
            if self._previous_long.shape == frame.shape[:2]
            else frame
        )
        dx, dy = self._registration.shift(grey(self.long), grey(np.asarray(still, np.float32)))
        h, w = frame.shape[:2]
        self.camera_moved = max(abs(dx), abs(dy)) > MAX_SHIFT * w
        if self.camera_moved or np.hypot(dx, dy) < MIN_SHIFT:
            return frame, (0.0, 0.0)
        moved = np.array([[1, 0, -dx], [0, 1, -dy]], np.float32)
        return np.asarray(cv2.warpAffine(frame, moved, (w, h), borderMode=cv2.BORDER_REPLICATE), np.float32), (dx, dy)

    def compare(self, frame: Picture, keep: Mask) -> Comparison:
        """Compare an aligned frame with both backgrounds and learn from it; `keep` marks tracked objects,
        under which the long-term background is never learnt."""
        assert self.long is not None
        assert self.short is not None
        assert self._evidence is not None
        frame, shift = self.align(frame)
        if self.camera_moved:  # too far to shift back: this is a new view, learnt afresh
            self.moves += 1
            self.start(frame)
            return self._empty(frame, global_change=True)
        usable = ~(self._previous_long | keep)
        gain = gain_field(frame, self.long, usable)
        colour = not is_grey(frame)
        long = difference(frame, self.long, gain, colour=colour) > 1.0
        short = difference(frame, self.short, np.ones(gain.shape[:2], np.float32), colour=colour) > 1.0
        free = ~keep
        changed = float(np.count_nonzero(long & free)) / max(1, int(np.count_nonzero(free)))
        switched = colour == self._long_grey  # day colour to IR grey, or back
        self._global_run = self._global_run + 1 if changed > GLOBAL_FRACTION or switched else 0
        if self._global_run >= GLOBAL_FRAMES:
            self.relearn(frame, keep, gain)
            return self._empty(frame, global_change=True, gain=gain, shift=shift)
        ev = self._evidence
        ev[long & ~short] += 1
        ev[long & short] -= 1
        ev[~long] = 0
        np.clip(ev, 0, 4 * self._still, out=ev)
        static = ev >= self._still
        cv2.accumulateWeighted(frame, self.short, SHORT_RATE)
        learn = (~(long | keep)).astype(np.uint8)
        cv2.accumulateWeighted(frame, self.long, LONG_RATE, mask=learn)
        self._previous_long = cv2.dilate(long.astype(np.uint8), _3X3, iterations=2).astype(np.bool_)
        return Comparison(frame, long, short, static, gain, False, shift, colour)

    def _empty(
        self, frame: Picture, *, global_change: bool, gain: Picture | None = None, shift: tuple[float, float] = (0, 0)
    ) -> Comparison:
        h, w = frame.shape[:2]
        none = np.zeros((h, w), np.bool_)
        ones = np.ones((h, w, 3), np.float32)
        return Comparison(frame, none, none, none, gain if gain is not None else ones, global_change, shift, True)

    def relearn(self, frame: Picture, keep: Mask, gain: Picture) -> None:
        """A global change: the empty scene is the frame now, except under tracked objects, where the old
        empty scene is carried over through the gain field (in grey when the frame is grey)."""
        assert self.long is not None
        assert self._evidence is not None
        carried = self.long * gain
        if is_grey(frame):
            carried = np.repeat(grey(carried)[..., None], 3, axis=2)
        self.long = np.where(keep[..., None], carried, frame).astype(np.float32)
        self.short = frame.copy()
        self._evidence[:] = 0
        self._previous_long[:] = False
        self._global_run = 0
        self._long_grey = is_grey(self.long)
        self.global_changes += 1

    def absorb(self, frame: Picture, region: Mask, gain: Picture) -> None:
        """`region` is background after all (a ghost of something gone, or light): learn it now, in the
        background's brightness (the gain field maps between the two)."""
        assert self.long is not None
        assert self._evidence is not None
        self.long[region] = frame[region] / np.maximum(gain[region], 1e-3)
        self._evidence[region] = 0
