"""Camera reports become grid events: one event_id per incident, rising seq, snapshot on the evidence
topic ahead of the event that references it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from pathlib import Path

from gridedge.cloud_bridge.message import OutMessage
from gridedge.edge.event import EventStatus, GridEvent
from gridedge.edge.grid import GridCell, Location
from gridedge.gateway.cameras import CameraFeed
from gridedge.simulators.scenes import OUTSIDE_SHOP, PAVEMENT
from gridedge.vision.config import CameraConfig, ZoneConfig
from gridedge.vision.events import VisionEvent
from gridedge.vision.state import CAPTURE

GRID = GridCell.model_validate(
    {level: {"code": f"{level[0].upper()}1"} for level in ("district", "street", "community", "grid")}
)


def report(
    status: EventStatus, started: float, observed: float, snapshot: bytes | None = b"\xff\xd8jpeg"
) -> VisionEvent:
    return VisionEvent(
        camera_id="cam-1",
        status=status,
        category=OUTSIDE_SHOP,
        zone="pavement",
        title="Doing business outside the shop",
        started_at=started,
        observed_at=observed,
        ended_at=observed if status is EventStatus.RESOLVED else None,
        snapshot=snapshot,
        width=640,
        height=360,
    )


def test_one_incident_is_one_event_id_with_rising_seq_and_its_snapshot_first() -> None:
    zone = ZoneConfig(name="pavement", polygon=list(PAVEMENT), category=OUTSIDE_SHOP)
    feed = CameraFeed([CameraConfig(id="cam-1", zones=[zone])], "gw-1", GRID, Location(site="Shop street"))
    revisions = [
        feed.messages(report(EventStatus.FIRING, 1_700_000_000, 1_700_000_120)),
        feed.messages(report(EventStatus.UPDATE, 1_700_000_000, 1_700_000_720)),
        feed.messages(report(EventStatus.RESOLVED, 1_700_000_000, 1_700_000_900)),
    ]
    events = []
    for evidence, event_msg in revisions:
        event = GridEvent.from_json(event_msg.payload)
        sha = hashlib.sha256(evidence.payload).hexdigest()
        assert evidence.topic == f"gridedge/v1/evidence/gw-1/{sha}"
        assert event.evidence.snapshot is not None
        assert event.evidence.snapshot.sha256 == sha
        events.append(event)
    assert len({e.event_id for e in events}) == 1
    assert [(e.seq, e.status) for e in events] == [
        (1, EventStatus.FIRING),
        (2, EventStatus.UPDATE),
        (3, EventStatus.RESOLVED),
    ]
    assert events[0].source.camera_id == "cam-1"
    assert events[0].source.zone == "pavement"

    (_, again) = feed.messages(report(EventStatus.FIRING, 1_700_001_000, 1_700_001_120))
    assert GridEvent.from_json(again.payload).event_id != events[0].event_id  # a new incident


async def test_a_camera_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    zone = ZoneConfig(name="pavement", polygon=list(PAVEMENT), category=OUTSIDE_SHOP)
    camera = CameraConfig(id="cam-1", source=str(tmp_path / "absent.avi"), zones=[zone], offline_after_s=0.5)
    feed = CameraFeed([camera], "gw-1", GRID, Location(site="Shop street"))
    emitted: asyncio.Queue[list[OutMessage]] = asyncio.Queue()
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(feed.run(stop, emitted.put))
        try:
            first = GridEvent.from_json((await asyncio.wait_for(emitted.get(), 30))[-1].payload)
            assert first.category == "device.offline"
            pid = feed.workers[0].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            second = GridEvent.from_json((await asyncio.wait_for(emitted.get(), 30))[-1].payload)
            assert second.category == "device.offline"  # the new worker found the camera still down
            assert feed.workers[0].pid not in (None, pid)
        finally:
            stop.set()


def test_two_objects_in_one_zone_are_two_incidents_and_each_resolves_its_own() -> None:
    import dataclasses

    zone = ZoneConfig(name="pavement", polygon=list(PAVEMENT), category=OUTSIDE_SHOP)
    feed = CameraFeed([CameraConfig(id="cam-1", zones=[zone])], "gw-1", GRID, Location(site="Shop street"))

    def revision(status: EventStatus, started: float, observed: float, object_id: int) -> GridEvent:
        event = dataclasses.replace(report(status, started, observed, snapshot=None), object_id=object_id)
        (message,) = feed.messages(event)
        return GridEvent.from_json(message.payload)

    carton = revision(EventStatus.FIRING, 1_700_000_000, 1_700_000_120, 1)
    rack = revision(EventStatus.FIRING, 1_700_000_060, 1_700_000_180, 2)
    carton_gone = revision(EventStatus.RESOLVED, 1_700_000_000, 1_700_000_300, 1)
    rack_gone = revision(EventStatus.RESOLVED, 1_700_000_060, 1_700_000_400, 2)
    assert carton.event_id != rack.event_id
    assert (carton_gone.event_id, carton_gone.seq) == (carton.event_id, 2)
    assert (rack_gone.event_id, rack_gone.seq) == (rack.event_id, 2)
    assert carton.dedup_key == "cam-1/pavement/street_order.outside_shop_operation/1"


def test_the_installers_capture_request_lands_in_the_cameras_state_folder(tmp_path: Path) -> None:
    zone = ZoneConfig(name="pavement", polygon=list(PAVEMENT), category=OUTSIDE_SHOP)
    feed = CameraFeed([CameraConfig(id="cam-1", zones=[zone])], "gw-1", GRID, Location(site="Shop street"), tmp_path)
    assert feed.capture_reference("cam-1")
    assert (tmp_path / "cameras" / "cam-1" / CAPTURE).is_file()
    assert not feed.capture_reference("cam-9")
    assert not feed.capture_reference("../cam-1")
