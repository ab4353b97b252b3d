"""Object ids across frames: what stands in a zone keeps its number while it stays.

Greedy matching by overlap (IoU), best pairs first, as SORT does without its motion model: a parked
carton or e-bike barely moves, so overlap alone tells it is the same one. A track survives
`max_missed` frames unseen (a person walking in front of it), so the id, and the time it was first
seen, stay with the object; the evidence labels each box with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Box = tuple[int, int, int, int]


@dataclass(slots=True)
class Track:
    id: int
    box: Box
    first_seen: float
    last_seen: float
    missed: int = 0


@dataclass
class Tracker:
    min_iou: float = 0.3
    max_missed: int = 10
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 1

    def update(self, boxes: list[Box], ts: float) -> list[Track]:
        """Match this frame's boxes to the tracks; return the tracks seen in this frame, by box order."""
        pairs = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)),
            reverse=True,
        )
        taken_t: set[int] = set()
        seen: dict[int, Track] = {}
        for overlap, ti, bi in pairs:
            if overlap < self.min_iou:
                break
            if ti in taken_t or bi in seen:
                continue
            track = self.tracks[ti]
            track.box, track.last_seen, track.missed = boxes[bi], ts, 0
            taken_t.add(ti)
            seen[bi] = track
        for ti, track in enumerate(self.tracks):
            if ti not in taken_t:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for bi, box in enumerate(boxes):
            if bi not in seen:
                seen[bi] = Track(self._next_id, box, ts, ts)
                self._next_id += 1
                self.tracks.append(seen[bi])
        return [seen[bi] for bi in range(len(boxes))]


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
