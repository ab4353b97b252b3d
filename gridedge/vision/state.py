"""What a camera keeps across restarts, in its own folder of the agent's state directory.

- `reference.png`: the empty scene as the installer captured it (`capture_reference`), so goods already
  out when the agent starts are seen as goods, and their removal is not a ghost.
- `learnt.npz`: the long-term background as learnt so far and the open static objects (id, box, look,
  clock, class) with the incidents that fired, so a restarted pipeline carries on: no second alarm
  for an object already reported, and its removal still resolves its incident.

Both are written to a temporary file and renamed, so a kill -9 mid-write leaves the previous one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gridedge.vision.background import Picture
from gridedge.vision.detector.base import Image
from gridedge.vision.objects import StaticObject

REFERENCE = "reference.png"
LEARNT = "learnt.npz"
CAPTURE = "capture.request"


@dataclass(frozen=True)
class Restored:
    background: Picture
    objects: list[StaticObject]
    fired: dict[tuple[int, str], float]  # (object id, zone) -> when last published


def _replace(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def capture_reference(directory: Path, frame: Image) -> Path:
    """Store `frame` (BGR, as the camera sends it) as the camera's empty-scene reference."""
    ok, png = cv2.imencode(".png", frame)
    if not ok:
        raise ValueError("cannot encode the reference frame")
    path = directory / REFERENCE
    _replace(path, lambda f: f.write(png.tobytes()))
    (directory / LEARNT).unlink(missing_ok=True)  # what was learnt against the old reference is void
    return path


def request_capture(directory: Path) -> None:
    """Ask the camera's worker to take its next frame as the empty-scene reference (the installer page's
    button): a file in the camera's folder, so the agent need not reach into the worker process."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CAPTURE).touch()


class CameraState:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def capture_requested(self) -> bool:
        """True once per request: the caller takes the next frame as the reference."""
        try:
            (self.directory / CAPTURE).unlink()
        except FileNotFoundError:
            return False
        return True

    def reference(self, size: tuple[int, int]) -> Picture | None:
        """The installer's empty scene at the analysis size, blurred as analysed frames are; None if none."""
        path = self.directory / REFERENCE
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is None:
            return None
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return np.asarray(cv2.GaussianBlur(small, (5, 5), 0), np.float32)

    def save(self, background: Picture, objects: list[StaticObject], fired: dict[tuple[int, str], float]) -> None:
        meta = {
            "objects": [
                {
                    "id": o.id,
                    "box": list(o.box),
                    "first_seen": o.first_seen,
                    "last_present": o.last_present,
                    "label": o.label,
                    "checks": o.checks,
                    "gain": list(o.gain),
                    "extra": {k: v for k, v in o.extra.items() if isinstance(v, float | int | str)},
                }
                for o in objects
                if not o.person
            ],
            "fired": [[oid, zone, at] for (oid, zone), at in fired.items()],
        }
        arrays: dict[str, Any] = {"background": np.clip(background, 0, 255).astype(np.uint8)}
        for o in objects:
            if not o.person:
                arrays[f"mask_{o.id}"] = o.mask
                arrays[f"look_{o.id}"] = np.clip(o.template, 0, 255).astype(np.uint8)
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        _replace(self.directory / LEARNT, lambda f: np.savez(f, **arrays))

    def load(self, size: tuple[int, int]) -> Restored | None:
        """What was saved, if it fits a camera analysed at `size`; None otherwise (a broken file too)."""
        path = self.directory / LEARNT
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                background = data["background"].astype(np.float32)
                if background.shape[:2] != (size[1], size[0]):
                    return None
                meta = json.loads(data["meta"].tobytes())
                objects = []
                for m in meta["objects"]:
                    x0, y0, x1, y1 = (int(v) for v in m["box"])
                    o = StaticObject(
                        int(m["id"]),
                        (x0, y0, x1, y1),
                        data[f"mask_{m['id']}"].astype(np.bool_),
                        data[f"look_{m['id']}"].astype(np.float32),
                        float(m["first_seen"]),
                        float(m["last_present"]),
                        label=m["label"],
                        checks=int(m["checks"]),
                        gain=(float(m["gain"][0]), float(m["gain"][1]), float(m["gain"][2])),
                        extra=dict(m["extra"]),
                    )
                    objects.append(o)
                fired = {(int(oid), str(zone)): float(at) for oid, zone, at in meta["fired"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            import logging

            logging.getLogger(__name__).warning("camera state %s unreadable, starting afresh: %s", path, exc)
            return None
        return Restored(background, objects, fired)
