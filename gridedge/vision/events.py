"""What a camera worker reports: incident revisions per zone, and the camera going offline or back."""

from __future__ import annotations

from dataclasses import dataclass

from gridedge.edge.event import EventStatus

CAMERA_OFFLINE = "device.offline"


@dataclass(frozen=True, slots=True)
class VisionEvent:
    camera_id: str
    status: EventStatus
    category: str
    zone: str | None
    title: str
    started_at: float
    observed_at: float
    ended_at: float | None = None
    snapshot: bytes | None = None  # annotated JPEG, people blurred
    width: int | None = None
    height: int | None = None
