"""A camera in the agent: file-fed camera -> worker process -> agent -> outbox -> Mosquitto, with the
snapshot on the evidence topic before the event that references it."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path

import aiomqtt
import cv2
import numpy as np
import pytest

from gridedge.devtools.demo import demo_gateway_config
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.event import EventStatus, GridEvent
from gridedge.gateway.agent import Agent
from gridedge.simulators.scenes import CORRIDOR, EBIKE_INDOOR, ebike_corridor, write_clip
from gridedge.vision.config import CameraConfig, ZoneConfig
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration


async def test_an_ebike_seen_by_a_camera_reaches_the_broker_as_one_event_with_its_snapshot(
    broker: Mosquitto, tmp_path: Path
) -> None:
    video = write_clip(dataclasses.replace(ebike_corridor(parked=2.0, duration=14.0), fps=10.0), tmp_path / "clips")
    zone = ZoneConfig(name="corridor", polygon=list(CORRIDOR), category=EBIKE_INDOOR, dwell_s=4.0, clear_s=2.0)
    camera = CameraConfig(id="cam-lift-3", source=str(video), zones=[zone])
    url = BrokerConfig.model_validate(broker.url)
    config = demo_gateway_config(url, tmp_path / "agent").model_copy(update={"cameras": [camera]})
    agent = Agent(config)
    stop = asyncio.Event()
    received: list[aiomqtt.Message] = []
    async with aiomqtt.Client(url.host, url.port, identifier="officer") as client:
        await client.subscribe("gridedge/v1/evidence/#", qos=1)
        await client.subscribe("gridedge/v1/events/#", qos=1)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(agent.run(stop))
            try:
                async with asyncio.timeout(40):
                    async for message in client.messages:
                        received.append(message)
                        if message.topic.matches("gridedge/v1/events/#"):
                            break
            finally:
                stop.set()
    evidence, event_message = received[-2:]
    event = GridEvent.from_json(bytes(event_message.payload))
    assert (event.category, event.status, event.seq) == (EBIKE_INDOOR, EventStatus.FIRING, 1)
    assert event.source.camera_id == "cam-lift-3"
    assert event.evidence.snapshot is not None
    snapshot = bytes(evidence.payload)
    assert str(evidence.topic) == f"gridedge/v1/evidence/gw-demo-01/{event.evidence.snapshot.sha256}"
    assert hashlib.sha256(snapshot).hexdigest() == event.evidence.snapshot.sha256
    preview = agent.cameras.frame("cam-lift-3")  # what the installer page shows, zones drawn
    assert preview is not None
    assert cv2.imdecode(np.frombuffer(preview, np.uint8), cv2.IMREAD_COLOR).shape[1] == 640
