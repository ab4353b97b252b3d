"""Sliding windows over one point's readings: aggregates, rate of change, and occurrence counters.

Windows run on the readings' own timestamps (the device's time), so a rate of change is about the
physics and not about when the gateway happened to receive the messages. A window holds the readings
of the last `seconds` before the newest one; aggregates are over what it holds so far (a fresh
window of one reading has avg == max == value and rate 0).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Set
from dataclasses import dataclass, field


@dataclass(slots=True)
class Window:
    seconds: float
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    total: float = 0.0  # running sum, so avg is O(1) per reading

    def push(self, ts: float, value: float) -> None:
        self.samples.append((ts, value))
        self.total += value
        horizon = ts - self.seconds
        while self.samples[0][0] < horizon:
            self.total -= self.samples.popleft()[1]

    def aggregates(self, wanted: Set[str]) -> dict[str, float]:
        """Only the aggregates a condition reads: max and min walk the window, the others do not."""
        s = self.samples
        out: dict[str, float] = {}
        if "avg" in wanted:
            out["avg"] = self.total / len(s)
        if "max" in wanted:
            out["max"] = max(v for _, v in s)
        if "min" in wanted:
            out["min"] = min(v for _, v in s)
        if "count" in wanted:
            out["count"] = len(s)
        if "delta" in wanted or "rate" in wanted:
            (t0, v0), (t1, v1) = s[0], s[-1]
            out["delta"] = v1 - v0
            out["rate"] = (v1 - v0) / (t1 - t0) if t1 > t0 else 0.0
        return out


@dataclass(slots=True)
class Occurrences:
    """How many times a condition became true within the last `seconds` (rising edges, not readings:
    a latched fault reported on every poll is one occurrence)."""

    seconds: float
    at: deque[float] = field(default_factory=deque)

    def count(self, ts: float, rising: bool) -> int:
        if rising:
            self.at.append(ts)
        horizon = ts - self.seconds
        while self.at and self.at[0] < horizon:
            self.at.popleft()
        return len(self.at)
