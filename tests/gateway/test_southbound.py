"""The running agent's southbound side: a device model added by a profile alone, a charging pile over
Modbus TCP, and profile/inventory changes applied without a restart, all end to end to grid events."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml

from gridedge.edge.broker import BrokerConfig
from gridedge.gateway.agent import Agent
from gridedge.gateway.settings import load_gateway_config
from gridedge.simulators.charging_pile import PileServer, plugged_piles
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

# A vendor's combined smoke/heat detector that GridEdge has never heard of: written as a profile only.
ACME_PROFILE = """
id: acme-hd200
vendor: ACME
model: HD-200 smoke and heat detector
transport: {type: mqtt, topic: "acme/{key}/telemetry"}
timestamp: {path: t, unit: s}
points:
  - {name: smoke, path: d.smk, type: bool, role: smoke}
  - {name: temperature, path: "d.temp_c10", type: float, scale: 0.1, unit: degC, role: air_temperature}
"""


@dataclass
class Running:
    agent: Agent
    piles: PileServer
    broker: BrokerConfig
    events: list[dict[str, Any]]
    inventory_file: Path
    profile_dir: Path

    async def until(self, what: str, found: Callable[[], bool], timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not found():
                await asyncio.sleep(0.05)
        assert found(), what

    def event(self, device: str, category: str) -> bool:
        return any(e["source"]["device_id"] == device and e["category"] == category for e in self.events)

    async def publish(self, topic: str, doc: dict[str, Any]) -> None:
        async with aiomqtt.Client(self.broker.host, self.broker.port, identifier="test-device") as client:
            await client.publish(topic, json.dumps(doc).encode(), qos=1)


def _device(id_: str, profile: str, **extra: object) -> dict[str, object]:
    return {"id": id_, "profile": profile, "location": {"site": f"site of {id_}"}, **extra}


@pytest.fixture
async def running(broker: Mosquitto, tmp_path: Path) -> AsyncIterator[Running]:
    url = BrokerConfig.model_validate(broker.url)
    modbus_port = free_port()
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "acme_hd200.yaml").write_text(ACME_PROFILE)
    inventory_file = tmp_path / "devices.yaml"
    inventory_file.write_text(yaml.safe_dump({"devices": [_device("AC-1", "acme-hd200")]}))
    config = {
        "gateway": {
            "id": "gw-t",
            "grid": {
                k: {"code": c} for k, c in (("district", "D1"), ("street", "S1"), ("community", "C1"), ("grid", "G1"))
            },
            "location": {"site": "test"},
        },
        "uplink": {"broker": broker.url},
        "southbound": {
            "mqtt": broker.url,
            "modbus": [{"type": "tcp", "name": "shed", "host": "127.0.0.1", "port": modbus_port}],
        },
        "state_dir": "agent",
        "profile_dirs": ["profiles"],
        "api": {"enabled": False},
        "inventory": {
            "devices": [
                _device(
                    "EP-1",
                    "ebike-charging-pile-10",
                    modbus={"bus": "shed", "unit": 1, "poll_interval_s": 0.2, "timeout_s": 0.2},
                    liveness={"heartbeat_interval_s": 0.2, "offline_after_s": 1.5},
                )
            ]
        },
        "inventory_file": "devices.yaml",
    }
    (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(config))
    agent = Agent(load_gateway_config(tmp_path / "gateway.yaml"))
    piles = PileServer(plugged_piles([1]))
    await piles.start_tcp("127.0.0.1", modbus_port)
    events: list[dict[str, Any]] = []
    stop = asyncio.Event()

    async def collect(client: aiomqtt.Client) -> None:
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            events.append(json.loads(message.payload))

    async with aiomqtt.Client(url.host, url.port, identifier="test-centre") as client:
        await client.subscribe("gridedge/v1/events/#", qos=1)
        collector = asyncio.create_task(collect(client))
        agent_task = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.sleep(0.5)  # subscribed and first polls done
            yield Running(agent, piles, url, events, inventory_file, profiles)
        finally:
            stop.set()
            await asyncio.wait_for(agent_task, 15)
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)
            await piles.stop()


async def test_a_model_added_by_profile_only_raises_grid_events(running: Running) -> None:
    await running.publish("acme/AC-1/telemetry", {"t": 1_700_000_000, "d": {"smk": 1, "temp_c10": 412}})
    await running.until("smoke event from the new model", lambda: running.event("AC-1", "fire_safety.smoke_alarm"))
    point = running.agent.ops.state.devices["AC-1"].points["temperature"]
    assert (point.value, point.unit, point.role) == (41.2, "degC", "air_temperature")


async def test_a_charging_pile_over_modbus_raises_grid_events(running: Running) -> None:
    running.piles.piles[1].arc_fault = True
    await running.until(
        "arc fault event", lambda: running.event("EP-1", "fire_safety.ebike_charging_arc_fault"), timeout=15
    )
    assert running.agent.ops.state.devices["EP-1"].points["port1.charging"].value is True


async def test_a_pile_that_stops_answering_is_reported_offline(running: Running) -> None:
    await running.until("polled", lambda: "total_power" in running.agent.ops.state.devices["EP-1"].points)
    running.piles.silence(1)
    await running.until("offline event", lambda: running.event("EP-1", "device.offline"))
    assert running.agent.ops.state.devices["EP-1"].points["total_power"].quality.value == "unavailable"


async def test_profiles_and_inventory_change_without_restart(running: Running) -> None:
    agent = running.agent
    # A broken profile is refused whole, and the running devices carry on.
    (running.profile_dir / "broken.yaml").write_text("id: broken\nvendor: x\nmodel: y\ntransport: {type: modbus}\n")
    await running.until("reload refused", lambda: agent.pipeline.counters["devices_reload_failed"] == 1)
    polls = running.piles.requests[1]
    await asyncio.sleep(0.5)
    assert running.piles.requests[1] > polls
    (running.profile_dir / "broken.yaml").unlink()

    # A new device in the inventory file is read without a restart.
    devices = [_device("AC-1", "acme-hd200"), _device("IR-9", "ir-shopfront-sensor")]
    running.inventory_file.write_text(yaml.safe_dump({"devices": devices}))
    await running.until("reloaded", lambda: agent.pipeline.counters["devices_reloaded"] >= 1)
    await running.until(
        "resubscribed", lambda: "shopfront/ir/+/state" in agent.pipeline.southbound.router.subscriptions
    )
    await asyncio.sleep(0.5)
    await running.publish("shopfront/ir/IR-9/state", {"presence": True, "dwell_s": 3.0, "beam_breaks": 7})
    await running.until("IR-9 read", lambda: "beam_breaks" in agent.ops.state.devices["IR-9"].points)
    assert agent.ops.state.devices["IR-9"].points["beam_breaks"].value == 7
    polls = running.piles.requests[1]
    await asyncio.sleep(0.5)
    assert running.piles.requests[1] > polls  # the pile is still polled after the reload
