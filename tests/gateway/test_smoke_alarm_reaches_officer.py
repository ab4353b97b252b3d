"""The foundation's one real path: simulator -> Mosquitto -> agent -> outbox -> Mosquitto -> centre -> API."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from gridedge.center.service import run_center
from gridedge.devices.profile import Liveness
from gridedge.devtools.demo import demo_gateway_config
from gridedge.edge.broker import BrokerConfig
from gridedge.gateway.agent import Agent
from gridedge.simulators.smoke_alarm import Action, SmokeAlarmFleet, Step
from tests.centre_stack import AUTH, centre_config
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

KEYS = ["SA-0001", "SA-0002", "SA-0003"]
SCRIPT = [
    Step(0.5, "SA-0002", Action.ALARM),
    Step(1.0, "SA-0003", Action.SILENCE),
    Step(2.5, "SA-0002", Action.CLEAR),
]


class Running:
    def __init__(self, http: httpx.AsyncClient, agent: Agent, broker: BrokerConfig) -> None:
        self.http, self.agent, self.broker = http, agent, broker

    async def cases(self) -> list[dict[str, Any]]:
        response = await self.http.get("/api/cases", params={"status": "all"})
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    async def wait_for(self, what: str, found: Callable[[list[dict[str, Any]]], bool], timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not found(await self.cases()):
                await asyncio.sleep(0.1)
        assert found(await self.cases()), what


@pytest.fixture
async def running(broker: Mosquitto, tmp_path: Path) -> AsyncIterator[Running]:
    url = BrokerConfig.model_validate(broker.url)
    port = free_port()
    config = demo_gateway_config(url, tmp_path / "agent")
    fast = Liveness(heartbeat_interval_s=0.5, offline_after_s=2)
    config = config.model_copy(
        update={
            "inventory": config.inventory.model_copy(
                update={"devices": [d.model_copy(update={"liveness": fast}) for d in config.inventory.devices[:3]]}
            )
        }
    )
    agent = Agent(config)
    centre = centre_config(url, tmp_path, port)
    fleet = SmokeAlarmFleet(url, KEYS, heartbeat_s=0.5, script=SCRIPT)
    stop = asyncio.Event()
    ready = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(run_center(centre, stop=stop, ready=ready))
        await asyncio.wait_for(ready.wait(), 10)
        tg.create_task(agent.run(stop))
        await asyncio.sleep(0.3)  # the agent subscribes before the first scripted step
        simulator = tg.create_task(fleet.run())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as http:
            try:
                yield Running(http, agent, url)
            finally:
                simulator.cancel()
                stop.set()


def _of(cases: list[dict[str, Any]], category: str) -> list[dict[str, Any]]:
    return [c for c in cases if c["category"] == category]


async def test_alarm_fires_resolves_and_a_silent_alarm_goes_offline(running: Running) -> None:
    await running.wait_for("smoke alarm firing", lambda cs: len(_of(cs, "fire_safety.smoke_alarm")) == 1)
    firing = _of(await running.cases(), "fire_safety.smoke_alarm")[0]
    assert firing["severity"] == "critical"
    assert firing["device_id"] == "SA-0002"
    assert firing["grid"]["grid"]["code"] == "G07"

    await running.wait_for(
        "the same case resolved",
        lambda cs: [c["source_status"] for c in _of(cs, "fire_safety.smoke_alarm")] == ["resolved"],
    )
    resolved = _of(await running.cases(), "fire_safety.smoke_alarm")[0]
    assert resolved["event_id"] == firing["event_id"]
    assert resolved["seq"] == 2

    await running.wait_for("SA-0003 offline", lambda cs: len(_of(cs, "device.offline")) == 1)
    offline = _of(await running.cases(), "device.offline")
    assert [c["device_id"] for c in offline] == ["SA-0003"]
    assert offline[0]["source_status"] == "firing"

    detail = (await running.http.get(f"/api/cases/{firing['event_id']}")).json()
    assert [r["seq"] for r in detail["revisions"]] == [1, 2]
    # Nothing else was raised: the healthy alarms stayed quiet.
    assert len(await running.cases()) == 2
    assert running.agent.outbox.depth() == 0


async def test_bad_payloads_are_counted_and_do_not_stop_other_devices(running: Running) -> None:
    async with aiomqtt.Client(running.broker.host, running.broker.port, identifier="intruder") as client:
        await client.publish("bridge/smoke/SA-0001/up", b"{broken", qos=1)
        await client.publish("bridge/smoke/SA-9999/up", b"{}", qos=1)
        await client.publish("bridge/smoke/SA-0001/up", json.dumps({"state": {"smoke": "maybe"}}).encode(), qos=1)
    await running.wait_for("smoke alarm still arrives", lambda cs: len(_of(cs, "fire_safety.smoke_alarm")) == 1)
    counters = running.agent.pipeline.southbound.router.counters
    assert counters["rejected_unknown_device"] == 1
    assert counters["rejected_fields"] == 2
