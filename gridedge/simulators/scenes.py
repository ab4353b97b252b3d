"""Generated camera scenes: shopfronts and corridors with people, goods, racks and e-bikes.

Everything is drawn from a seed, so a clip and its ground truth are reproducible. The same renderer
makes labelled still images (YOLO format) for training the project's small detector, and labelled
clips (a video plus a YAML sidecar, see docs/vision.md) for tests and `gridedge vision eval`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

CLASSES = ("person", "bicycle", "goods", "rack")
"""Class ids of the training labels; `bicycle` covers bicycles and e-bikes, as in COCO."""

Frame = np.ndarray[Any, np.dtype[np.uint8]]
Point = tuple[float, float]


@dataclass(frozen=True)
class Actor:
    """Something in the scene: `kind` is one of CLASSES; `path` is (t, x, y) waypoints in normalised
    coordinates, the actor is visible from the first waypoint's time to the last's."""

    kind: str
    path: tuple[tuple[float, float, float], ...]
    size: float = 0.18  # height as a fraction of the frame height
    colour: tuple[int, int, int] = (60, 90, 160)
    sway: bool = False  # people standing still still move a little

    def at(self, t: float) -> Point | None:
        if not self.path or t < self.path[0][0] or t > self.path[-1][0]:
            return None
        for (t0, x0, y0), (t1, x1, y1) in zip(self.path, self.path[1:], strict=False):
            if t0 <= t <= t1:
                f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                return x0 + f * (x1 - x0), y0 + f * (y1 - y0)
        return self.path[-1][1], self.path[-1][2]


@dataclass(frozen=True)
class Violation:
    zone: str
    category: str
    start: float
    end: float


@dataclass(frozen=True)
class Scene:
    """A camera view (`kind` shopfront or corridor), its zones and its scripted actors."""

    name: str
    kind: str
    duration: float
    actors: tuple[Actor, ...]
    zones: dict[str, tuple[Point, ...]]
    zone_categories: dict[str, str]
    truth: tuple[Violation, ...] = ()
    seed: int = 0
    size: tuple[int, int] = (640, 360)
    fps: float = 10.0
    zone_settings: dict[str, Any] = field(default_factory=dict)  # dwell_s, clear_s, ... for every zone


def _background(kind: str, size: tuple[int, int], rng: random.Random) -> Frame:
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    if kind == "shopfront":
        horizon = int(h * 0.45)
        img[:horizon] = [rng.randint(120, 200), rng.randint(120, 200), rng.randint(120, 200)]
        for i in range(rng.randint(2, 4)):  # shop windows and doors
            x = int(w * (0.05 + 0.3 * i)) + rng.randint(0, 20)
            cv2.rectangle(img, (x, int(h * 0.1)), (x + int(w * 0.2), horizon), (rng.randint(40, 90),) * 3, -1)
        img[horizon:] = [rng.randint(150, 185)] * 3
        for y in range(horizon, h, max(8, h // 12)):
            cv2.line(img, (0, y), (w - 1, y), (130, 130, 130), 1)
    else:  # corridor with a lift door at the end
        img[:] = [rng.randint(170, 210)] * 3
        pts = np.array([[0, h], [int(w * 0.35), int(h * 0.35)], [int(w * 0.65), int(h * 0.35)], [w, h]], np.int32)
        cv2.fillPoly(img, [pts], (rng.randint(110, 140),) * 3)
        cv2.rectangle(img, (int(w * 0.42), int(h * 0.1)), (int(w * 0.58), int(h * 0.35)), (150, 150, 160), -1)
        cv2.line(img, (w // 2, int(h * 0.1)), (w // 2, int(h * 0.35)), (90, 90, 90), 2)
    return img


def _box(actor: Actor, centre: Point, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1) of an actor standing with its feet at `centre`."""
    w, h = size
    ah = actor.size * h
    aspect = {"person": 0.4, "bicycle": 1.6, "goods": 1.0, "rack": 0.8}[actor.kind]
    aw = ah * aspect
    x, y = centre[0] * w, centre[1] * h
    return int(x - aw / 2), int(y - ah), int(x + aw / 2), int(y)


def _draw(img: Frame, actor: Actor, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    c = actor.colour
    bw, bh = x1 - x0, y1 - y0
    if actor.kind == "person":
        r = max(2, bw // 3)
        cv2.circle(img, ((x0 + x1) // 2, y0 + r), r, (80, 110, 170), -1)
        cv2.rectangle(img, (x0, y0 + 2 * r), (x1, y0 + int(bh * 0.65)), c, -1)
        cv2.rectangle(img, (x0 + bw // 8, y0 + int(bh * 0.65)), (x1 - bw // 8, y1), (40, 40, 60), -1)
    elif actor.kind == "goods":
        for i in range(3):  # a stack of cartons
            top = y0 + i * bh // 3
            cv2.rectangle(img, (x0 + (i % 2) * bw // 10, top), (x1 - (i % 2) * bw // 10, top + bh // 3 - 1), c, -1)
            cv2.rectangle(img, (x0, top), (x1, top + bh // 3 - 1), (30, 50, 80), 1)
    elif actor.kind == "rack":
        cv2.rectangle(img, (x0, y0), (x1, y1), (50, 50, 50), 3)
        for i in range(1, 4):
            yy = y0 + i * bh // 4
            cv2.line(img, (x0, yy), (x1, yy), (50, 50, 50), 2)
            cv2.rectangle(img, (x0 + 4, yy - bh // 8), (x1 - 4, yy - 2), c, -1)
    else:  # bicycle / e-bike
        r = max(3, bh // 3)
        left, right = (x0 + r, y1 - r), (x1 - r, y1 - r)
        cv2.circle(img, left, r, (20, 20, 20), 3)
        cv2.circle(img, right, r, (20, 20, 20), 3)
        cv2.rectangle(img, (x0 + bw // 3, y0 + bh // 3), (x1 - bw // 3, y1 - r), c, -1)  # battery / frame
        cv2.line(img, left, (x0 + bw // 3, y0 + bh // 3), (30, 30, 30), 3)
        cv2.line(img, right, (x1 - bw // 4, y0), (30, 30, 30), 3)


def render(
    scene: Scene, t: float, background: Frame, noise: np.random.Generator
) -> tuple[Frame, list[tuple[str, tuple[int, int, int, int]]]]:
    """The frame at time `t` and the labelled boxes visible in it (far actors drawn first)."""
    img = background.copy()
    boxes: list[tuple[str, tuple[int, int, int, int]]] = []
    visible = [(a, p) for a in scene.actors if (p := a.at(t)) is not None]
    for actor, (x0, y) in sorted(visible, key=lambda ap: ap[1][1]):
        x = x0 + 0.004 * math.sin(t * 2.1 + x0 * 10) if actor.sway else x0
        box = _box(actor, (x, y), scene.size)
        _draw(img, actor, box)
        boxes.append((actor.kind, box))
    grain = noise.integers(-3, 4, img.shape, dtype=np.int16)
    return np.clip(img.astype(np.int16) + grain, 0, 255).astype(np.uint8), boxes


def scene_frames(scene: Scene) -> Iterator[Frame]:
    """Every frame of the scene at its frame rate."""
    background = _background(scene.kind, scene.size, random.Random(scene.seed))
    noise = np.random.default_rng(scene.seed)
    for i in range(int(scene.duration * scene.fps)):
        yield render(scene, i / scene.fps, background, noise)[0]


def write_clip(scene: Scene, directory: Path) -> Path:
    """Write `NAME.avi` (MJPEG) and its sidecar `NAME.yaml` (zones + ground truth); return the video path."""
    directory.mkdir(parents=True, exist_ok=True)
    video = directory / f"{scene.name}.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), scene.fps, scene.size)
    try:
        for frame in scene_frames(scene):
            writer.write(frame)
    finally:
        writer.release()
    sidecar = {
        "video": video.name,
        "camera": {
            "id": scene.name,
            "zones": [
                {
                    "name": n,
                    "polygon": [list(p) for p in poly],
                    "category": scene.zone_categories[n],
                    **scene.zone_settings,
                }
                for n, poly in scene.zones.items()
            ],
        },
        "truth": [{"zone": v.zone, "category": v.category, "start": v.start, "end": v.end} for v in scene.truth],
    }
    (directory / f"{scene.name}.yaml").write_text(yaml.safe_dump(sidecar, sort_keys=False), encoding="utf-8")
    return video


PAVEMENT: tuple[Point, ...] = ((0.0, 0.6), (1.0, 0.6), (1.0, 1.0), (0.0, 1.0))
CORRIDOR: tuple[Point, ...] = ((0.15, 1.0), (0.37, 0.4), (0.63, 0.4), (0.85, 1.0))
OUTSIDE_SHOP = "street_order.outside_shop_operation"
EBIKE_INDOOR = "fire_safety.ebike_indoor"


def _walker(rng: random.Random, t0: float, y: float, speed: float = 0.12) -> Actor:
    left = rng.random() < 0.5
    x0, x1 = (-0.1, 1.1) if left else (1.1, -0.1)
    return Actor("person", ((t0, x0, y), (t0 + 1.2 / speed, x1, y)), size=0.35, colour=_colour(rng))


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)


def goods_left(seed: int = 1, placed: float = 5.0, removed: float = 45.0, duration: float = 60.0) -> Scene:
    """A shopkeeper puts a stack of goods on the pavement and takes it back later; people pass by."""
    rng = random.Random(seed)
    keeper = Actor("person", ((placed - 3, 0.5, 0.62), (placed, 0.42, 0.85), (placed + 3, 0.5, 0.62)), size=0.35)
    goods = Actor("goods", ((placed, 0.4, 0.88), (removed, 0.4, 0.88)), size=0.2, colour=(40, 110, 170))
    fetch = Actor("person", ((removed - 3, 0.5, 0.62), (removed, 0.42, 0.86), (removed + 3, 0.5, 0.62)), size=0.35)
    walkers = tuple(_walker(rng, t, rng.uniform(0.7, 0.98)) for t in range(8, int(duration) - 8, 9))
    return Scene(
        "goods_left",
        "shopfront",
        duration,
        (keeper, goods, fetch, *walkers),
        {"pavement": PAVEMENT},
        {"pavement": OUTSIDE_SHOP},
        (Violation("pavement", OUTSIDE_SHOP, placed, removed),),
        seed,
    )


def passers_by(seed: int = 2, duration: float = 50.0, stand: float = 20.0) -> Scene:
    """People walk across the pavement and one stands a while in the zone: not a violation."""
    rng = random.Random(seed)
    walkers = tuple(_walker(rng, t, rng.uniform(0.65, 0.98)) for t in range(1, int(duration) - 6, 4))
    stander = Actor(
        "person",
        ((5, -0.1, 0.85), (8, 0.6, 0.85), (8 + stand, 0.6, 0.85), (11 + stand, 1.1, 0.85)),
        size=0.35,
        sway=True,
    )
    return Scene(
        "passers_by",
        "shopfront",
        duration,
        (*walkers, stander),
        {"pavement": PAVEMENT},
        {"pavement": OUTSIDE_SHOP},
        (),
        seed,
    )


def ebike_corridor(seed: int = 3, parked: float = 6.0, duration: float = 40.0) -> Scene:
    """An e-bike is wheeled into a residential corridor and left by the lift."""
    rider = Actor("person", ((parked - 4, 0.5, 1.25), (parked, 0.56, 0.8), (parked + 4, 0.5, 1.25)), size=0.45)
    bike = Actor("bicycle", ((parked - 4, 0.42, 1.2), (parked, 0.45, 0.8), (duration, 0.45, 0.8)), size=0.22)
    return Scene(
        "ebike_corridor",
        "corridor",
        duration,
        (bike, rider),
        {"corridor": CORRIDOR},
        {"corridor": EBIKE_INDOOR},
        (Violation("corridor", EBIKE_INDOOR, parked, duration),),
        seed,
    )


SCENES: dict[str, Callable[[], Scene]] = {
    "goods_left": goods_left,
    "passers_by": passers_by,
    "ebike_corridor": ebike_corridor,
}


def training_image(
    seed: int, size: tuple[int, int] = (640, 360)
) -> tuple[Frame, list[tuple[int, float, float, float, float]]]:
    """One random labelled still: an image and YOLO labels (class, cx, cy, w, h normalised)."""
    rng = random.Random(seed)
    kind = rng.choice(("shopfront", "corridor"))
    actors = []
    for _ in range(rng.randint(1, 6)):
        cls = rng.choice(CLASSES)
        y = rng.uniform(0.55, 1.0) if kind == "shopfront" else rng.uniform(0.45, 1.0)
        scale = {"person": 0.35, "bicycle": 0.2, "goods": 0.18, "rack": 0.3}[cls] * (0.5 + y * 0.6)
        actors.append(Actor(cls, ((0, rng.uniform(0.05, 0.95), y),), size=scale, colour=_colour(rng)))
    scene = Scene("train", kind, 1.0, tuple(actors), {}, {}, seed=seed, size=size)
    frame, boxes = render(scene, 0.0, _background(kind, size, rng), np.random.default_rng(seed))
    w, h = size
    labels = []
    for name, box in boxes:
        x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
        if x1 - x0 > 3 and y1 - y0 > 3:
            labels.append((CLASSES.index(name), (x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h))
    return frame, labels
