"""A Reading: one value of one point of one device at one time."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

Value = bool | int | float | str


class Quality(StrEnum):
    GOOD = "good"
    BAD = "bad"  # the device sent something we could not trust (wrong type, out of range)
    UNAVAILABLE = "unavailable"  # the device did not answer


@dataclass(slots=True)
class Reading:
    """Plain dataclass rather than a pydantic model: readings are the hot path (tens of thousands a
    second). Never changed once made; not `frozen` only because frozen construction costs five times
    as much, and a gateway makes one per point per message."""

    device_id: str
    point: str
    value: Value | None
    ts: float  # seconds since the epoch, UTC, as the device or its bridge stamped it
    unit: str | None = None
    role: str | None = None  # semantic role from the profile (smoke, heartbeat, temperature...)
    quality: Quality = Quality.GOOD
