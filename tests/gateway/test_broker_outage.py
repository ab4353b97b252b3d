"""The whole path rides through broker restarts: simulator -> Mosquitto -> agent (southbound, uplink)
-> Mosquitto -> centre (ingest), with the one broker (persistence on) stopped and started again.

An alarm raised before the outage clears during it; a second alarm is raised during the outage
and clears after it. Nothing ends; every incident reaches the centre once, every
revision in order with no gap in seq.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridedge.center.service import run_center
from gridedge.devices.profile import Liveness
from gridedge.devtools.demo import demo_gateway_config
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.reconnect import Backoff
from gridedge.gateway.agent import Agent
from gridedge.simulators.smoke_alarm import Action, SmokeAlarmFleet, Step
from tests.centre_stack import AUTH, centre_config
from tests.outage import Heard, Listener, outage, restartable_broker, running
from tests.servers import free_port

pytestmark = pytest.mark.integration

KEYS = ["SA-0001", "SA-0002", "SA-0003"]
SCRIPT = [
    Step(0.5, "SA-0002", Action.ALARM),
    Step(3.0, "SA-0002", Action.CLEAR),  # during the outage (2-4 s)
    Step(3.5, "SA-0003", Action.ALARM),  # during the outage
    Step(7.0, "SA-0003", Action.CLEAR),  # after it
]


async def cases(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get("/api/cases", params={"status": "all"})
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found


async def test_agent_centre_and_simulator_ride_through_a_broker_restart(tmp_path: Path) -> None:
    async with restartable_broker(tmp_path / "broker") as broker:
        url = BrokerConfig.model_validate(broker.url)
        config = demo_gateway_config(url, tmp_path / "agent")
        devices = [d for d in config.inventory.devices if d.id in KEYS]
        config = config.model_copy(update={"inventory": config.inventory.model_copy(update={"devices": devices})})
        agent = Agent(config)
        port = free_port()
        fleet = SmokeAlarmFleet(url, KEYS, heartbeat_s=1.0, script=SCRIPT, reconnect=Backoff(0.1, 1.0))
        stop, ready = asyncio.Event(), asyncio.Event()
        centre = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH)
        async with asyncio.TaskGroup() as tg, centre as http:
            parts = {"centre": tg.create_task(run_center(centre_config(url, tmp_path, port), stop=stop, ready=ready))}
            await asyncio.wait_for(ready.wait(), 10)
            parts["agent"] = tg.create_task(agent.run(stop))
            await asyncio.sleep(0.3)  # the agent subscribes before the first scripted step
            parts["simulator"] = tg.create_task(fleet.run())
            try:
                await asyncio.sleep(2.0)
                await outage(broker, 2.0)
                async with asyncio.timeout(60):
                    while [c["source_status"] for c in await cases(http)] != ["resolved", "resolved"]:
                        await asyncio.sleep(0.2)
                ended = [name for name, task in parts.items() if task.done()]
                assert not ended, f"ended with the outage: {ended}"
                details = [(await http.get(f"/api/cases/{c['event_id']}")).json() for c in await cases(http)]
            finally:
                parts["simulator"].cancel()
                stop.set()
    assert sorted(d["case"]["device_id"] for d in details) == ["SA-0002", "SA-0003"]
    for detail in details:
        assert detail["case"]["category"] == "fire_safety.smoke_alarm"
        assert [(r["seq"], r["status"]) for r in detail["revisions"]] == [(1, "firing"), (2, "resolved")]


async def test_a_broker_outage_longer_than_the_liveness_interval_reports_no_device_offline(tmp_path: Path) -> None:
    """Devices cannot be heard while the agent's broker is down: that is no sign of their absence.
    Only the alarm that really fell silent meanwhile is reported offline, once the broker is back."""
    keys = ["SA-0001", "SA-0002", "SA-0003"]
    async with restartable_broker(tmp_path / "broker") as broker:
        url = BrokerConfig.model_validate(broker.url)
        config = demo_gateway_config(url, tmp_path / "agent")
        quick = Liveness(heartbeat_interval_s=0.5, offline_after_s=3)
        devices = [d.model_copy(update={"liveness": quick}) for d in config.inventory.devices if d.id in keys]
        config = config.model_copy(update={"inventory": config.inventory.model_copy(update={"devices": devices})})
        script = [Step(3.0, "SA-0003", Action.SILENCE)]  # during the outage (2-8 s)
        fleet = SmokeAlarmFleet(url, keys, heartbeat_s=0.5, script=script, reconnect=Backoff(0.1, 0.5))
        stop = asyncio.Event()
        wire = Listener(broker, ["gridedge/v1/events/#"], client_id="test-wire")
        async with running(wire), asyncio.TaskGroup() as tg:
            tg.create_task(Agent(config).run(stop))
            await asyncio.sleep(0.3)
            simulator = tg.create_task(fleet.run())
            try:
                await asyncio.sleep(2.0)
                await outage(broker, 6.0)
                await wire.wait_for("SA-0003 offline", lambda h: bool(offline(h)), timeout=30)
                await asyncio.sleep(4.0)  # time for any other (false) one to arrive
            finally:
                simulator.cancel()
                stop.set()
    assert offline(wire.heard) == ["SA-0003"]


def offline(heard: list[Heard]) -> list[str]:
    events = [json.loads(h.payload) for h in heard]
    return sorted({e["source"]["device_id"] for e in events if e["category"] == "device.offline"})
