"""Scenario: a charging pile on Modbus TCP and a wireless smoke alarm in one e-bike shed, through the
real agent and centre on Mosquitto. Port 3's contact fails and heats; then the shed's smoke alarm goes
off. Officers get exactly one case: a critical charging fire; the smoke alarm and the port's
over-temperature are held back by it (inhibited), not published as cases of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gridedge.center.service import run_center
from gridedge.center.settings import ApiToken, CenterConfig, HttpConfig, demo_officer
from gridedge.edge.broker import BrokerConfig
from gridedge.gateway.agent import Agent
from gridedge.gateway.settings import GatewayConfig
from gridedge.simulators.charging_pile import Fault, PileServer, plugged_piles
from gridedge.simulators.smoke_alarm import Action, SmokeAlarmFleet, Step
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

SHED = {"site": "No. 3 e-bike shed", "address": "3 Willow Lane"}
FAST = {"heartbeat_interval_s": 0.5, "offline_after_s": 5}
TOKEN = "shed-fire-token-0123456789abcdef"


def _gateway(broker: str, modbus_port: int, tmp_path: Path) -> GatewayConfig:
    grid = {k: {"code": c} for k, c in (("district", "D1"), ("street", "S1"), ("community", "C1"), ("grid", "G1"))}
    return GatewayConfig.model_validate(
        {
            "gateway": {"id": "gw-shed", "grid": grid, "location": {"site": "Willow gateway"}},
            "uplink": {"broker": broker},
            "southbound": {
                "mqtt": broker,
                "modbus": [{"type": "tcp", "name": "shed", "host": "127.0.0.1", "port": modbus_port}],
            },
            "state_dir": str(tmp_path / "agent"),
            "api": {"enabled": False},
            "inventory": {
                "devices": [
                    {
                        "id": "EP-1",
                        "profile": "ebike-charging-pile-10",
                        "location": SHED,
                        "modbus": {"bus": "shed", "unit": 1, "poll_interval_s": 0.2},
                    },
                    {"id": "SA-0001", "profile": "generic-smoke-alarm", "location": SHED, "liveness": FAST},
                ]
            },
        }
    )


@pytest.fixture
async def shed(broker: Mosquitto, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Agent]]:
    url = BrokerConfig.model_validate(broker.url)
    modbus_port, http_port = free_port(), free_port()
    agent = Agent(_gateway(broker.url, modbus_port, tmp_path))
    piles = plugged_piles([1])
    piles[1].ports[2].faults.add(Fault.OVER_TEMPERATURE)  # port 3's contact is failing
    server = PileServer(piles, speed=600)  # ten minutes of heating per second
    await server.start_tcp("127.0.0.1", modbus_port)
    centre = CenterConfig(
        broker=url,
        database=f"sqlite:///{tmp_path / 'centre.db'}",
        http=HttpConfig(port=http_port),
        officers=[demo_officer()],
        api_tokens=[ApiToken(officer=demo_officer().username, token=SecretStr(TOKEN))],
    )
    alarm = SmokeAlarmFleet(url, ["SA-0001"], heartbeat_s=0.5, script=[Step(2.0, "SA-0001", Action.ALARM)])
    stop, ready = asyncio.Event(), asyncio.Event()
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(run_center(centre, stop=stop, ready=ready))
            await asyncio.wait_for(ready.wait(), 10)
            tg.create_task(agent.run(stop))
            await asyncio.sleep(0.3)
            simulator = tg.create_task(alarm.run())
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", headers=auth) as http:
                try:
                    yield http, agent
                finally:
                    simulator.cancel()
                    stop.set()
    finally:
        await server.stop()


async def _cases(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get("/api/cases", params={"status": "all"})
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


async def test_a_shed_fire_is_one_critical_case(shed: tuple[httpx.AsyncClient, Agent]) -> None:
    http, agent = shed
    async with asyncio.timeout(15):
        while not await _cases(http):
            await asyncio.sleep(0.1)
        # The port's over-temperature finishes its 10 s pending while the fire burns: held, not a case.
        while agent.pipeline.engine.counters["held_inhibited"] < 2:
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    cases = await _cases(http)
    assert [(c["category"], c["severity"], c["source_status"], c["seq"], c["device_id"]) for c in cases] == [
        ("fire_safety.ebike_charging_fire", "critical", "firing", 1, "SA-0001")
    ]
    assert cases[0]["level"] == "street"
