"""Scenario clips of a street and a corridor as a real camera would get them wrong: light, crowds, bumps.

A second generator, drawn in a deliberately different style from `scenes.py` (textured paving in
perspective, jointed people who swing their arms and legs and cast shadows, shaded cartons, a clothes
rack on wheels, e-bikes with spoked wheels), and with what the lab never has: auto-exposure jumps, an
IR switch to grey at nightfall, dusk with a street lamp coming on, cloud shadows, a bumped and a shaken
camera, sensor noise and compression. Each scenario is seeded and carries its ground truth; `suite()`
lays the times out around the dwell limit so the same suite runs short in the tests and longer from
`gridedge vision make-clips --suite street`.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

Frame = np.ndarray[Any, np.dtype[np.uint8]]
OUTSIDE_SHOP = "street_order.outside_shop_operation"
EXIT_BLOCKED = "fire_safety.fire_exit_blocked"
PAVEMENT = ((0.0, 0.58), (1.0, 0.58), (1.0, 1.0), (0.0, 1.0))
CORRIDOR = ((0.12, 1.0), (0.36, 0.42), (0.64, 0.42), (0.88, 1.0))


@dataclass(frozen=True)
class Thing:
    """Someone or something in the scene: `kind` person, goods, rack, ebike or bicycle; `path` is
    (t, x, y) waypoints of where it touches the ground (normalised); visible from the first to the last."""

    kind: str
    path: tuple[tuple[float, float, float], ...]
    colour: tuple[int, int, int]
    size: float = 1.0  # relative to the kind's usual size
    stand_sway: bool = True  # a person standing still shifts and moves their arms a little

    def at(self, t: float) -> tuple[float, float, bool] | None:
        """(x, y, moving) at `t`, or None when not in view."""
        p = self.path
        if t < p[0][0] or t > p[-1][0]:
            return None
        for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(p):
            if t0 <= t <= t1:
                f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                return x0 + f * (x1 - x0), y0 + f * (y1 - y0), (x0, y0) != (x1, y1)
        return p[-1][1], p[-1][2], False


@dataclass(frozen=True)
class Look:
    """What the camera does to the picture over time."""

    exposure: tuple[tuple[float, float], ...] = ()  # (from t, gain)
    ir_from: float | None = None  # grey infrared picture from this time on
    dusk: tuple[float, float] | None = None  # light falls from 1 to 0.4 between these times, warmer
    lamp_at: float | None = None  # a street lamp lights a pool on the pavement from this time
    clouds: bool = False
    shift: tuple[float, float, float] | None = None  # (from t, dx, dy) in fractions of the width/height
    shake: tuple[float, float] | None = None  # camera shaken between these times


@dataclass(frozen=True)
class Scenario:
    name: str
    place: str  # street or corridor
    duration: float
    things: tuple[Thing, ...]
    truth: tuple[tuple[float, float], ...]  # violation intervals in the one zone
    look: Look = Look()
    empty_reference: bool = False  # the installer captured the empty scene before the clip
    seed: int = 0
    size: tuple[int, int] = (320, 180)
    fps: float = 5.0
    zone: dict[str, Any] = field(default_factory=dict)  # dwell_s, clear_s


def _texture(rng: np.random.Generator, shape: tuple[int, int], cells: int, amount: float) -> np.ndarray[Any, Any]:
    h, w = shape
    coarse = rng.normal(0, 1, (max(2, h // cells), max(2, w // cells))).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) * amount


def backdrop(place: str, size: tuple[int, int], seed: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    horizon = int(h * 0.42)
    if place == "street":
        img[:horizon] = (120, 140, 165)  # a shop wall, warm plaster
        for i in range(3):
            x0 = int(w * (0.06 + 0.32 * i))
            cv2.rectangle(img, (x0, int(h * 0.08)), (x0 + int(w * 0.22), horizon - 4), (70, 62, 55), -1)
            for k in range(8):  # reflections in the glass
                y = int(h * 0.1) + k * 4
                cv2.line(img, (x0 + 4 + k * 3, y), (x0 + 30 + k * 3, y + 20), (110, 105, 100), 1)
        cv2.rectangle(img, (0, horizon - 4), (w, horizon), (60, 60, 70), -1)
        img[horizon:] = (150, 152, 150)
        for j in range(10):  # paving joints in perspective
            y = horizon + int((h - horizon) * (j / 10) ** 1.3)
            cv2.line(img, (0, y), (w, y), (118, 120, 118), 1)
        for i in range(-8, 18):
            cv2.line(
                img,
                (int(w * (0.5 + (i - 5) * 0.03)), horizon),
                (int(w * (0.5 + (i - 5) * 0.14)), h),
                (122, 124, 122),
                1,
            )
    else:  # a residential corridor to the lift and the stairs
        img[:] = (175, 180, 178)
        floor = np.array([[0, h], [int(w * 0.36), int(h * 0.42)], [int(w * 0.64), int(h * 0.42)], [w, h]], np.int32)
        cv2.fillPoly(img, [floor], (105, 118, 128))
        for j in range(1, 9):
            y = int(h * 0.42 + (h * 0.58) * (j / 9) ** 1.5)
            cv2.line(img, (0, y), (w, y), (92, 104, 112), 1)
        cv2.rectangle(img, (int(w * 0.43), int(h * 0.12)), (int(w * 0.57), int(h * 0.42)), (140, 150, 160), -1)
        cv2.rectangle(img, (int(w * 0.05), int(h * 0.2)), (int(w * 0.2), int(h * 0.62)), (60, 90, 120), -1)  # doors
        cv2.rectangle(img, (int(w * 0.8), int(h * 0.2)), (int(w * 0.95), int(h * 0.62)), (60, 90, 120), -1)
        cv2.rectangle(
            img, (int(w * 0.46), int(h * 0.02)), (int(w * 0.54), int(h * 0.06)), (40, 200, 60), -1
        )  # exit sign
    img += _texture(rng, (h, w), 6, 6.0)[..., None]
    img += rng.normal(0, 3, (h, w, 1)).astype(np.float32)
    return img


def _scale(y: float, h: int) -> float:
    """Pixels per metre where the ground is at pixel row `y` (perspective: nearer is bigger)."""
    return h * (0.1 + 0.32 * max(0.0, y / h - 0.4))


def _person(img: Frame, x: float, y: float, thing: Thing, *, t: float, moving: bool) -> None:
    h = img.shape[0]
    m = _scale(y, h) * thing.size
    height = 1.7 * m
    phase = math.sin(t * 7.0) if moving else 0.08 * math.sin(t * 1.3 + x * 9)
    sway = 0.0 if moving or not thing.stand_sway else 0.03 * m * math.sin(t * 0.9 + x * 5)
    cx, foot = x + sway, y
    hip = foot - 0.5 * height
    shoulder = foot - 0.82 * height
    c = thing.colour
    legs = tuple(max(0, v - 60) for v in c)
    cv2.ellipse(img, (int(cx), int(foot)), (int(0.3 * m), max(1, int(0.06 * m))), 0, 0, 360, (70, 72, 70), -1)
    stride = 0.28 * m * phase
    for s in (-1, 1):
        cv2.line(
            img, (int(cx + s * 0.06 * m), int(hip)), (int(cx + s * stride), int(foot)), legs, max(1, int(0.13 * m))
        )
    torso = np.array(
        [[cx - 0.2 * m, shoulder], [cx + 0.2 * m, shoulder], [cx + 0.15 * m, hip], [cx - 0.15 * m, hip]], np.int32
    )
    cv2.fillPoly(img, [torso], c)
    for s in (-1, 1):
        hand = (int(cx + s * 0.26 * m - s * stride * 0.5), int(hip + 0.05 * m))
        cv2.line(img, (int(cx + s * 0.2 * m), int(shoulder + 0.04 * m)), hand, c, max(1, int(0.08 * m)))
    head = (int(cx), int(shoulder - 0.13 * m))
    cv2.circle(img, head, max(2, int(0.12 * m)), (90, 120, 170), -1)
    cv2.circle(img, (head[0], head[1] - int(0.05 * m)), max(1, int(0.1 * m)), (30, 30, 35), -1)  # hair


def _goods(img: Frame, x: float, y: float, thing: Thing) -> None:
    m = _scale(y, img.shape[0]) * thing.size
    w, hh = 0.6 * m, 0.35 * m
    c = np.array(thing.colour, np.float32)
    for k in range(2):  # two cartons stacked, front face, lit top, shaded side
        bottom = y - k * hh
        front = (int(x - w / 2), int(bottom - hh), int(x + w / 2), int(bottom))
        cv2.rectangle(img, front[:2], front[2:], tuple(float(v) for v in c), -1)
        top = np.array(
            [
                [front[0], front[1]],
                [front[2], front[1]],
                [front[2] + 0.15 * m, front[1] - 0.1 * m],
                [front[0] + 0.15 * m, front[1] - 0.1 * m],
            ],
            np.int32,
        )
        cv2.fillPoly(img, [top], tuple(float(v) for v in np.clip(c * 1.25, 0, 255)))
        side = np.array(
            [
                [front[2], front[1]],
                [front[2] + 0.15 * m, front[1] - 0.1 * m],
                [front[2] + 0.15 * m, front[3] - 0.1 * m],
                [front[2], front[3]],
            ],
            np.int32,
        )
        cv2.fillPoly(img, [side], tuple(float(v) for v in c * 0.7))
        cv2.line(img, (int(x), front[1]), (int(x), front[3]), (200, 200, 190), max(1, int(0.04 * m)))  # tape
        w *= 0.85


def _rack(img: Frame, x: float, y: float, thing: Thing, rng: random.Random) -> None:
    m = _scale(y, img.shape[0]) * thing.size
    w, hh = 1.0 * m, 1.4 * m
    x0, x1, top = int(x - w / 2), int(x + w / 2), int(y - hh)
    metal = (160, 160, 165)
    cv2.line(img, (x0, int(y)), (x0, top), metal, max(1, int(0.04 * m)))
    cv2.line(img, (x1, int(y)), (x1, top), metal, max(1, int(0.04 * m)))
    cv2.line(img, (x0, top), (x1, top), metal, max(1, int(0.04 * m)))
    for k in range(6):  # garments on hangers
        gx = int(x0 + (k + 0.5) * w / 6)
        colour = tuple((v + 40 * k) % 230 for v in thing.colour)
        cv2.rectangle(img, (gx - int(w / 14), top + 3), (gx + int(w / 14), int(top + 0.65 * hh)), colour, -1)
    for px in (x0, x1):
        cv2.circle(img, (px, int(y)), max(1, int(0.06 * m)), (30, 30, 30), -1)


def _bike(img: Frame, x: float, y: float, thing: Thing, *, t: float, moving: bool) -> None:
    m = _scale(y, img.shape[0]) * thing.size
    r = 0.33 * m
    back, front = (int(x - 0.55 * m), int(y - r)), (int(x + 0.55 * m), int(y - r))
    for c in (back, front):
        cv2.circle(img, c, int(r), (25, 25, 25), max(1, int(0.07 * m)))
        for k in range(4):
            a = k * math.pi / 4 + (t * 6 if moving else 0)
            cv2.line(
                img,
                (int(c[0] - r * math.cos(a)), int(c[1] - r * math.sin(a))),
                (int(c[0] + r * math.cos(a)), int(c[1] + r * math.sin(a))),
                (120, 120, 120),
                1,
            )
    seat, bar = (int(x - 0.2 * m), int(y - 1.0 * m)), (int(x + 0.45 * m), int(y - 1.1 * m))
    for p0, p1 in ((back, seat), (seat, front), (front, bar), (back, (int(x), int(y - r)))):
        cv2.line(img, p0, p1, thing.colour, max(1, int(0.06 * m)))
    if thing.kind == "ebike":
        cv2.rectangle(
            img, (int(x - 0.25 * m), int(y - 0.75 * m)), (int(x + 0.15 * m), int(y - 0.5 * m)), (20, 20, 20), -1
        )


def render(s: Scenario, t: float, base: np.ndarray[Any, Any], rng: random.Random) -> Frame:
    w, h = s.size
    img = base.copy()
    shown = [(th, p) for th in s.things if (p := th.at(t)) is not None]
    for th, (x, y, moving) in sorted(shown, key=lambda tp: tp[1][1]):
        px, py = x * w, y * h
        if th.kind == "person":
            _person(img, px, py, th, t=t, moving=moving)
        elif th.kind == "goods":
            _goods(img, px, py, th)
        elif th.kind == "rack":
            _rack(img, px, py, th, rng)
        else:
            _bike(img, px, py, th, t=t, moving=moving)
    return _camera(s, t, img, rng)


def _camera(s: Scenario, t: float, img: np.ndarray[Any, Any], rng: random.Random) -> Frame:
    w, h = s.size
    look = s.look
    gain = 1.0
    for since, g in look.exposure:
        if t >= since:
            gain = g
    if look.clouds:  # soft shadows drifting across
        xs = np.linspace(0, 1, w, dtype=np.float32)
        band = 1 - 0.25 * np.exp(-(((xs - (t * 0.02) % 1.6 + 0.3) / 0.25) ** 2))
        img = img * band[None, :, None]
    if look.dusk is not None:
        a, b = look.dusk
        f = min(1.0, max(0.0, (t - a) / (b - a)))
        img = img * (1 - 0.6 * f) * np.array([1 - 0.25 * f, 1 - 0.05 * f, 1 + 0.1 * f], np.float32)
    if look.lamp_at is not None and t >= look.lamp_at:
        img = img + _pool(w, h) * min(1.0, (t - look.lamp_at) / 2)
    img = img * gain
    if look.ir_from is not None and t >= look.ir_from:
        grey = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        img = np.repeat((grey * 0.85 + 25)[..., None], 3, axis=2)
    dx = dy = 0.0
    if look.shift is not None and t >= look.shift[0]:
        dx, dy = look.shift[1] * w, look.shift[2] * h
    if look.shake is not None and look.shake[0] <= t <= look.shake[1]:
        dx, dy = dx + rng.uniform(-0.012, 0.012) * w, dy + rng.uniform(-0.012, 0.012) * h
    if dx or dy:
        img = cv2.warpAffine(img, np.array([[1, 0, dx], [0, 1, dy]], np.float32), (w, h), borderMode=cv2.BORDER_REFLECT)
    noise = np.random.default_rng(rng.randrange(1 << 30)).integers(-4, 5, img.shape[:2], np.int16)
    out: Frame = np.clip(img + noise[..., None], 0, 255).astype(np.uint8)
    return out


def _pool(w: int, h: int) -> np.ndarray[Any, Any]:
    """The light a street lamp throws on the pavement (warm, soft-edged)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pool = np.exp(-(((xx - 0.7 * w) / (0.18 * w)) ** 2 + ((yy - 0.8 * h) / (0.15 * h)) ** 2))
    light: np.ndarray[Any, Any] = (pool * 45)[..., None] * np.array([0.6, 0.9, 1.0], np.float32)
    return light


def frames(s: Scenario) -> Iterator[Frame]:
    base = backdrop(s.place, s.size, s.seed)
    rng = random.Random(s.seed)
    for i in range(int(s.duration * s.fps)):
        yield render(s, i / s.fps, base, rng)


def write(s: Scenario, directory: Path) -> Path:
    """`NAME.avi` (MJPEG), its sidecar `NAME.yaml` and, when the installer captured one, the empty
    scene `NAME-empty.png`; returns the sidecar."""
    directory.mkdir(parents=True, exist_ok=True)
    video = directory / f"{s.name}.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), s.fps, s.size)
    try:
        for frame in frames(s):
            writer.write(frame)
    finally:
        writer.release()
    zone_name, category, polygon = (
        ("pavement", OUTSIDE_SHOP, PAVEMENT) if s.place == "street" else ("corridor", EXIT_BLOCKED, CORRIDOR)
    )
    sidecar: dict[str, Any] = {"video": video.name}
    if s.empty_reference:
        empty = replace(s, things=(), look=replace(s.look, shake=None))
        cv2.imwrite(
            str(directory / f"{s.name}-empty.png"),
            render(empty, 0.0, backdrop(s.place, s.size, s.seed), random.Random(1)),
        )
        sidecar["reference"] = f"{s.name}-empty.png"
    sidecar["camera"] = {
        "id": s.name,
        "analyse_fps": min(5.0, s.fps),
        "zones": [{"name": zone_name, "polygon": [list(p) for p in polygon], "category": category, **s.zone}],
    }
    sidecar["truth"] = [{"zone": zone_name, "category": category, "start": a, "end": b} for a, b in s.truth]
    path = directory / f"{s.name}.yaml"
    path.write_text(yaml.safe_dump(sidecar, sort_keys=False), encoding="utf-8")
    return path


def _colour(rng: random.Random, dull: bool = False) -> tuple[int, int, int]:
    if dull:  # clothes close to the paving's grey: the hard case for a camera
        g = rng.randint(110, 170)
        return g + rng.randint(-8, 8), g + rng.randint(-8, 8), g + rng.randint(-8, 8)
    return rng.randint(20, 230), rng.randint(20, 230), rng.randint(20, 230)


def _walker(rng: random.Random, t0: float, y: tuple[float, float] = (0.66, 0.98), speed: float = 0.0) -> Thing:
    left = rng.random() < 0.5
    v = speed or rng.uniform(0.08, 0.2)  # frame widths per second
    yy = rng.uniform(*y)
    x0, x1 = (-0.1, 1.1) if left else (1.1, -0.1)
    return Thing("person", ((t0, x0, yy), (t0 + 1.2 / v, x1, yy)), _colour(rng, rng.random() < 0.3))


def _crowd(
    rng: random.Random, start: float, end: float, every: float, y: tuple[float, float] = (0.66, 0.98)
) -> tuple[Thing, ...]:
    out, t = [], start
    while t < end:
        out.append(_walker(rng, t, y))
        t += rng.uniform(0.5, 1.5) * every
    return tuple(out)


def _carried(
    rng: random.Random, t: float, x: float, y: float, *, colour: tuple[int, int, int], until: float
) -> tuple[Thing, ...]:
    """Goods put down at `t` at (x, y) by someone who walks in from the shop and back, and fetched at `until`."""
    keeper = _colour(rng)
    goods = Thing("goods", ((t, x, y), (until, x, y)), colour, size=rng.uniform(0.9, 1.2))
    put = Thing(
        "person",
        ((t - 3, x + 0.08, 0.5), (t, x + 0.12, y + 0.02), (t + 0.6, x + 0.12, y + 0.02), (t + 3.5, x + 0.1, 0.5)),
        keeper,
    )
    fetch = Thing(
        "person",
        (
            (until - 3, x + 0.08, 0.5),
            (until, x + 0.12, y + 0.02),
            (until + 0.6, x + 0.12, y + 0.02),
            (until + 3.5, x + 0.1, 0.5),
        ),
        keeper,
    )
    return goods, put, fetch


def suite(dwell: float = 10.0, size: tuple[int, int] = (320, 180), fps: float = 5.0, seed: int = 100) -> list[Scenario]:
    """The fourteen scenarios, with times laid out around `dwell` (seconds a violation must last)."""
    d = dwell
    zone = {"dwell_s": d, "clear_s": max(2.0, d / 4)}
    end = 5 * d + 20  # long enough for a violation, its report and its end
    out: list[Scenario] = []

    def add(
        name: str,
        place: str,
        things: tuple[Thing, ...],
        truth: tuple[tuple[float, float], ...],
        duration: float = end,
        **kw: Any,
    ) -> None:
        out.append(
            Scenario(name, place, duration, things, truth, seed=seed + len(out), size=size, fps=fps, zone=zone, **kw)
        )

    rng = random.Random(seed)
    brown = (40, 100, 160)
    add(
        "exposure_jump",
        "street",
        (*_carried(rng, 6, 0.3, 0.7, colour=brown, until=4 * d), *_crowd(rng, 2, end, 6)),
        ((6, 4 * d),),
        look=Look(exposure=((2 * d, 1.35), (3 * d + 5, 0.8))),
    )
    add(
        "ir_night_switch",
        "street",
        (*_carried(rng, 6, 0.6, 0.72, colour=(60, 60, 170), until=4 * d), *_crowd(rng, 2, end, 7)),
        ((6, 4 * d),),
        look=Look(ir_from=2 * d),
    )
    add(
        "dusk_drift",
        "street",
        (*_carried(rng, d, 0.35, 0.7, colour=(150, 120, 60), until=4 * d), *_crowd(rng, 2, end, 6)),
        ((d, 4 * d),),
        look=Look(dusk=(0, end), lamp_at=2.5 * d),
    )
    add(
        "camera_shift",
        "street",
        (*_carried(rng, 2 * d, 0.5, 0.72, colour=brown, until=4 * d + 5), *_crowd(rng, 2, end, 7)),
        ((2 * d, 4 * d + 5),),
        look=Look(shift=(d, 0.012, 0.015)),
    )
    add("camera_shake", "street", _crowd(rng, 1, end, 5), (), look=Look(shake=(d, 2 * d), clouds=True))
    add(
        "goods_at_start",
        "street",
        (
            Thing("goods", ((0, 0.4, 0.75), (3 * d, 0.4, 0.75)), brown),
            Thing(
                "person",
                ((3 * d - 3, 0.5, 0.5), (3 * d, 0.52, 0.77), (3 * d + 0.6, 0.52, 0.77), (3 * d + 3.5, 0.5, 0.5)),
                _colour(rng),
            ),
            *_crowd(rng, 1, end, 6),
        ),
        ((0, 3 * d),),
        empty_reference=True,
    )
    add(
        "goods_briefly_down",
        "street",
        (
            *_carried(rng, 5, 0.3, 0.7, colour=brown, until=5 + 0.4 * d),
            *_carried(rng, 3 * d, 0.6, 0.72, colour=(50, 50, 150), until=3 * d + 0.6 * d),
            *_crowd(rng, 1, end, 6),
        ),
        (),
    )
    add("walkers_crossing", "street", _crowd(rng, 0, end, 1.2), (), look=Look(clouds=True))
    stand = Thing(
        "person", ((2, -0.1, 0.8), (6, 0.45, 0.8), (6 + 2 * d, 0.45, 0.8), (10 + 2 * d, 1.1, 0.8)), (50, 60, 140)
    )
    add("person_standing", "street", (stand, *_crowd(rng, 3, end, 8)), ())
    crowd_spells = _crowd(rng, d, 2 * d, 0.5, (0.75, 0.98)) + _crowd(rng, 3 * d, 4 * d, 0.5, (0.75, 0.98))
    add(
        "goods_behind_crowds",
        "street",
        (*_carried(rng, 5, 0.45, 0.72, colour=brown, until=4.5 * d), *crowd_spells),
        ((5, 4.5 * d),),
    )
    add(
        "goods_removed",
        "street",
        (*_carried(rng, 5, 0.7, 0.7, colour=(30, 140, 200), until=2.5 * d), *_crowd(rng, 1, end, 5)),
        ((5, 2.5 * d),),
    )
    rack = Thing("rack", ((4, 1.15, 0.7), (7, 0.75, 0.7), (3 * d, 0.75, 0.7), (3 * d + 3, 1.15, 0.7)), (150, 40, 120))
    pusher = Thing("person", ((4, 1.25, 0.72), (7, 0.87, 0.72), (8, 0.9, 0.72), (11, 1.2, 0.75)), _colour(rng))
    puller = Thing("person", ((3 * d - 3, 1.2, 0.75), (3 * d, 0.87, 0.72), (3 * d + 3, 1.25, 0.72)), _colour(rng))
    add("rack_wheeled_out", "street", (rack, pusher, puller, *_crowd(rng, 2, end, 7)), ((7, 3 * d),))
    bike = Thing("ebike", ((3, 0.5, 1.15), (7, 0.47, 0.75), (end, 0.47, 0.75)), (30, 30, 160))
    rider = Thing("person", ((3, 0.56, 1.2), (7, 0.55, 0.78), (8, 0.55, 0.78), (12, 0.58, 1.25)), _colour(rng))
    neighbours = tuple(_walker(rng, t, (0.6, 0.95), 0.15) for t in np.arange(12.0, end, 9.0))
    add("ebike_in_corridor", "corridor", (bike, rider, *neighbours), ((7, end),))
    ride = Thing("bicycle", ((4, 0.5, 1.2), (9, 0.5, 0.45)), (20, 120, 40))
    walked = Thing(
        "bicycle",
        ((2 * d, 0.4, 0.45), (2 * d + 5, 0.45, 0.75), (2 * d + 8, 0.45, 0.75), (2 * d + 12, 0.5, 1.2)),
        (160, 30, 30),
    )
    walker = Thing(
        "person",
        ((2 * d, 0.47, 0.45), (2 * d + 5, 0.52, 0.77), (2 * d + 8, 0.52, 0.77), (2 * d + 12, 0.57, 1.22)),
        _colour(rng),
    )
    add("bicycle_passing", "corridor", (ride, walked, walker), ())
    return out


SUITE: dict[str, Callable[..., list[Scenario]]] = {"street": suite}
