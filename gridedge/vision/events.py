"""What a camera worker reports: incident revisions per object and zone, and the camera going offline or back."""

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
    object_id: int | None = None  # the static object the incident is about (one incident per object)
    width: int | None = None
    height: int | None = None


def incident_key(event: VisionEvent) -> str:
    """Which incident a revision belongs to: camera, zone, category and, for a static object, its id."""
    key = f"{event.camera_id}/{event.zone or '-'}/{event.category}"
    return key if event.object_id is None else f"{key}/{event.object_id}"
