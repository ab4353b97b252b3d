"""How the shipped detector transfers to a drawing it never saw: frames of the street scenarios of
`gridedge/simulators/street_clips.py` at 640x360. Run from the repository root:

    .venv/bin/python models/gridedge-scenes/check_transfer.py

A thing counts as found when a detection of its class covers where it stands (the middle of its feet).
"""

from __future__ import annotations

import random
import sys

import gridedge.simulators.street_clips as street
from gridedge.vision.config import OnnxDetector
from gridedge.vision.detector import make_detector

WANT = {"person": "person", "goods": "goods", "rack": "rack", "ebike": "bicycle", "bicycle": "bicycle"}
FRAMES = {
    "walkers_crossing": range(5, 65, 3),
    "goods_removed": range(8, 24, 2),
    "rack_wheeled_out": range(9, 28, 3),
    "ebike_in_corridor": range(14, 60, 5),
}


def main() -> None:
    detector = make_detector(
        OnnxDetector(model="models/gridedge-scenes/gridedge-scenes-320.onnx", imgsz=320, threads=2)
    )
    scenarios = {s.name: s for s in street.suite(size=(640, 360))}
    seen: dict[str, list[int]] = {}
    labels: dict[str, int] = {}
    for name, times in FRAMES.items():
        s = scenarios[name]
        base = street.backdrop(s.place, s.size, s.seed)
        for t in times:
            found = detector.detect(street.render(s, float(t), base, random.Random(1)))
            for d in found:
                labels[d.label] = labels.get(d.label, 0) + 1
            for thing in s.things:
                where = thing.at(float(t))
                if where is None or not 0.05 < where[0] < 0.95 or where[1] > 1.0:
                    continue
                x, y = where[0] * 640, where[1] * 360
                hit = any(
                    d.label == WANT[thing.kind]
                    and d.box[0] - 10 <= x <= d.box[2] + 10
                    and d.box[1] <= y <= d.box[3] + 25
                    for d in found
                )
                counts = seen.setdefault(WANT[thing.kind], [0, 0])
                counts[0] += 1
                counts[1] += hit
    sys.stdout.write(f"visible, found: {seen}\ndetections per label: {labels}\n")


if __name__ == "__main__":
    main()
