"""A LoRaWAN smoke detector that reports a bitfield, described by its profile alone (no rule, no code),
through the running agent and a real Mosquitto: its smoke bit raises the built-in smoke alarm, its
malfunction bit the built-in device fault, and both clear when the frame says so."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml

from gridedge.edge.broker import BrokerConfig
from gridedge.gateway.agent import Agent
from gridedge.gateway.settings import load_gateway_config
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

TOPIC = "v3/block3@ttn/devices/tg563a-lobby/up"  # The Things Stack's uplink topic for the device


def _uplink(frame: bytes, received_at: str) -> dict[str, Any]:
    return {
        "end_device_ids": {"device_id": "tg563a-lobby", "application_ids": {"application_id": "block3"}},
        "received_at": received_at,
        "uplink_message": {
            "f_port": 1,
            "frm_payload": base64.b64encode(frame).decode(),
            "rx_metadata": [{"gateway_ids": {"gateway_id": "gw-1"}, "rssi": -97, "snr": 7.25}],
        },
    }


@pytest.fixture
async def agent_and_events(broker: Mosquitto, tmp_path: Path) -> AsyncIterator[tuple[Agent, list[dict[str, Any]]]]:
    url = BrokerConfig.model_validate(broker.url)
    config = {
        "gateway": {
            "id": "gw-lora",
            "grid": {
                k: {"code": c} for k, c in (("district", "D"), ("street", "S"), ("community", "C"), ("grid", "G"))
            },
            "location": {"site": "Block 3"},
        },
        "uplink": {"broker": broker.url},
        "southbound": {"mqtt": broker.url},
        "state_dir": "agent",
        "api": {"enabled": False},
        "inventory": {
            "devices": [
                {
                    "id": "SD-LOBBY",
                    "profile": "tg563a-smoke-detector",
                    "key": "tg563a-lobby",
                    "location": {"site": "Block 3 lobby"},
                }
            ]
        },
    }
    (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(config))
    agent = Agent(load_gateway_config(tmp_path / "gateway.yaml"))
    events: list[dict[str, Any]] = []
    stop = asyncio.Event()

    async def collect(client: aiomqtt.Client) -> None:
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            events.append(json.loads(message.payload))

    async with aiomqtt.Client(url.host, url.port, identifier="test-centre") as client:
        await client.subscribe("gridedge/v1/events/#", qos=1)
        collector = asyncio.create_task(collect(client))
        task = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.sleep(0.5)
            yield agent, events
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)


async def _until(events: list[dict[str, Any]], rule: str, status: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            found = [e for e in events if e["source"]["rule_id"] == rule and e["status"] == status]
            if found:
                return found[-1]
            await asyncio.sleep(0.05)


async def test_smoke_and_malfunction_bits_raise_the_builtin_events(
    broker: Mosquitto, agent_and_events: tuple[Agent, list[dict[str, Any]]]
) -> None:
    agent, events = agent_and_events
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="tts") as tts:

        async def send(frame: str, at: str) -> None:
            await tts.publish(TOPIC, json.dumps(_uplink(bytes.fromhex(frame), at)).encode(), qos=1)

        await send("017E150101", "2026-01-05T03:00:00Z")  # smoke alarm event: byte 4 bit 0, mounted
        smoke = await _until(events, "smoke_alarm", "firing")
        assert (smoke["category"], smoke["severity"]) == ("fire_safety.smoke_alarm", "critical")
        assert smoke["source"]["device_id"] == "SD-LOBBY"
        assert smoke["started_at"].startswith("2026-01-05T03:00:00")  # the network server's time

        await send("037E150104", "2026-01-05T03:01:00Z")  # smoke chamber failure: byte 4 bit 2
        fault = await _until(events, "device_fault", "firing")
        assert (fault["category"], fault["severity"]) == ("device.fault", "major")
        await _until(events, "smoke_alarm", "resolved")  # the same frame's smoke bit is clear

        await send("007E150100", "2026-01-05T03:02:00Z")  # periodic, nothing wrong
        await _until(events, "device_fault", "resolved")
    assert {e["category"] for e in events} == {"fire_safety.smoke_alarm", "device.fault"}
    point = agent.ops.state.devices["SD-LOBBY"].points["temperature"]
    assert (point.value, point.unit) == (21.0, "degC")
