"""Camera reports become grid events: one event_id per incident, rising seq, snapshot on the evidence
topic ahead of the event that references it."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import signal
from collections.abc import Mapping
from pathlib import Path

import pytest

from gridedge.cloud_bridge.message import OutMessage
from gridedge.edge.event import EventStatus, GridEvent
from gridedge.edge.grid import GridCell, Location
from gridedge.gateway import cameras
from gridedge.gateway.cameras import CameraFeed
from gridedge.simulators.scenes import OUTSIDE_SHOP, PAVEMENT, goods_left, write_clip
from gridedge.vision.config import CameraConfig, ZoneConfig
from gridedge.vision.events import VisionEvent
from gridedge.vision.incidents import STATE_PREFIX
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


def messages(feed: CameraFeed, event: VisionEvent) -> list[OutMessage]:
    revision = feed.revise(event)
    assert revision is not None
    return feed.messages(revision)


def test_one_incident_is_one_event_id_with_rising_seq_and_its_snapshot_first() -> None:
    zone = ZoneConfig(name="pavement", polygon=list(PAVEMENT), category=OUTSIDE_SHOP)
    feed = CameraFeed([CameraConfig(id="cam-1", zones=[zone])], "gw-1", GRID, Location(site="Shop street"))
    revisions = [
        messages(feed, report(EventStatus.FIRING, 1_700_000_000, 1_700_000_120)),
        messages(feed, report(EventStatus.UPDATE, 1_700_000_000, 1_700_000_720)),
        messages(feed, report(EventStatus.RESOLVED, 1_700_000_000, 1_700_000_900)),
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

    (_, again) = messages(feed, report(EventStatus.FIRING, 1_700_001_000, 1_700_001_120))
    assert GridEvent.from_json(again.payload).event_id != events[0].event_id  # a new incident


async def test_a_replaced_worker_continues_the_camera_incident_and_resolves_it(tmp_path: Path) -> None:
    """The camera is down: offline fires. Its worker is killed; the fresh one finds the camera down
    again (the same incident: nothing new is published). The camera comes back: the fresh worker's
    resolution continues the first event_id with the next seq."""
    scene = dataclasses.replace(goods_left(placed=30.0, duration=4.0), name="cam-1-stream")
    source = tmp_path / "clips" / f"{scene.name}.avi"
    zone = ZoneConfig(name="pavement", polygon=list(PAVEMENT), category=OUTSIDE_SHOP)
    camera = CameraConfig(id="cam-1", source=str(source), zones=[zone], offline_after_s=0.5)
    feed = CameraFeed([camera], "gw-1", GRID, Location(site="Shop street"))
    emitted: asyncio.Queue[tuple[GridEvent, Mapping[str, object | None]]] = asyncio.Queue()

    async def emit(out: list[OutMessage], state: Mapping[str, object | None]) -> None:
        await emitted.put((GridEvent.from_json(out[-1].payload), state))

    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(feed.run(stop, emit))
        try:
            first, stored = await asyncio.wait_for(emitted.get(), 30)
            assert (first.category, first.seq, first.status) == ("device.offline", 1, EventStatus.FIRING)
            assert stored[STATE_PREFIX + first.event_id] is not None  # the open incident, stored with it
            pid = feed.workers[0].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            async with asyncio.timeout(30):  # the fresh worker is up and has found the camera down again
                while feed.workers[0].pid in (None, pid) or feed.incidents.unconfirmed():
                    await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)
            assert emitted.empty(), "the fresh worker's offline report was published as a new revision"
            await asyncio.to_thread(write_clip, scene, source.parent)  # the camera comes back
            back, stored = await asyncio.wait_for(emitted.get(), 30)
        finally:
            stop.set()
    assert (back.event_id, back.seq, back.status) == (first.event_id, 2, EventStatus.RESOLVED)
    assert stored == {STATE_PREFIX + first.event_id: None}


async def test_a_camera_back_while_its_worker_was_dead_resolves_the_offline_incident(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The camera comes back while its worker is dead: the fresh worker sees frames, never reports the
    offline incident again, and the agent resolves it (same event_id, next seq) after its window."""
    monkeypatch.setattr(cameras, "WORKER_START_S", 3.0)
    scene = dataclasses.replace(goods_left(placed=30.0, duration=30.0), name="cam-1-stream")
    source = tmp_path / "clips" / f"{scene.name}.avi"
    ready = write_clip(scene, tmp_path / "ready")  # the camera's stream, made before it is needed
    zone = ZoneConfig(name="pavement", polygon=list(PAVEMENT), category=OUTSIDE_SHOP)
    camera = CameraConfig(id="cam-1", source=str(source), zones=[zone], offline_after_s=0.5)
    feed = CameraFeed([camera], "gw-1", GRID, Location(site="Shop street"))
    emitted: asyncio.Queue[GridEvent] = asyncio.Queue()

    async def emit(out: list[OutMessage], _: Mapping[str, object | None]) -> None:
        await emitted.put(GridEvent.from_json(out[-1].payload))

    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(feed.run(stop, emit))
        try:
            first = await asyncio.wait_for(emitted.get(), 30)
            assert (first.category, first.status) == ("device.offline", EventStatus.FIRING)
            pid = feed.workers[0].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            source.parent.mkdir()
            ready.rename(source)  # back, before a fresh worker looks
            with caplog.at_level(logging.INFO):
                back = await asyncio.wait_for(emitted.get(), 30)
        finally:
            stop.set()
    assert (back.event_id, back.seq, back.status) == (first.event_id, 2, EventStatus.RESOLVED)
    assert back.started_at == first.started_at
    assert feed.workers[0].pid != pid
    assert any("resolved, no worker reports it" in r.getMessage() for r in caplog.records)


def test_two_objects_in_one_zone_are_two_incidents_and_each_resolves_its_own() -> None:
    import dataclasses

    zone = ZoneConfig(name="pavement", polygon=list(PAVEMENT), category=OUTSIDE_SHOP)
    feed = CameraFeed([CameraConfig(id="cam-1", zones=[zone])], "gw-1", GRID, Location(site="Shop street"))

    def revision(status: EventStatus, started: float, observed: float, object_id: int) -> GridEvent:
        event = dataclasses.replace(report(status, started, observed, snapshot=None), object_id=object_id)
        revised = feed.revise(event)
        assert revised is not None
        (message,) = feed.messages(revised)
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
    feed = CameraFeed(
        [CameraConfig(id="cam-1", zones=[zone])], "gw-1", GRID, Location(site="Shop street"), state_dir=tmp_path
    )
    assert feed.capture_reference("cam-1")
    assert (tmp_path / "cameras" / "cam-1" / CAPTURE).is_file()
    assert not feed.capture_reference("cam-9")
    assert not feed.capture_reference("../cam-1")
