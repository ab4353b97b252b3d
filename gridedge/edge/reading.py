"""A Reading: one value of one point of one device at one time."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

Value = bool | int | float | str


class Quality(StrEnum):
    GOOD = "good"
    BAD = "bad"  # the device sent something we could not trust (wrong type, out of range)
    UNAVAILABLE = "unavailable"  # the device did not answer


@dataclass(frozen=True, slots=True)
class Reading:
    """Plain dataclass rather than a pydantic model: readings are the hot path (tens of thousands a second)."""

    device_id: str
    point: str
    value: Value | None
    ts: float  # seconds since the epoch, UTC, as the device or its bridge stamped it
    unit: str | None = None
    role: str | None = None  # semantic role from the profile (smoke, heartbeat, temperature...)
    quality: Quality = Quality.GOOD
