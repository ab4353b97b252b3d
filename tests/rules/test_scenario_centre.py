"""Scenario: smoke alarm and IR shopfront simulators -> Mosquitto -> agent (rules) -> Mosquitto -> centre.

Checks exactly which events reach the officers: count, category, severity, status and seq. The
shopfront rule is the built-in one with its threshold cut from 300 s to 1.5 s and no trading-hours
schedule, so the scenario runs in seconds at any time of day.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gridedge.center.service import run_center
from gridedge.devices.inventory import DeviceEntry
from gridedge.devices.profile import Liveness
from gridedge.devtools.demo import demo_gateway_config
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.grid import Location
from gridedge.gateway.agent import Agent
from gridedge.rules.model import BUILTIN_PACKS
from gridedge.simulators.ir_sensor import IrAction, IrSensorFleet, IrStep
from gridedge.simulators.smoke_alarm import Action, SmokeAlarmFleet, Step
from tests.centre_stack import AUTH, centre_config
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

ALARMS = ["SA-0001", "SA-0002", "SA-0003"]
SMOKE_SCRIPT = [
    Step(0.5, "SA-0001", Action.TAMPER),
    Step(0.6, "SA-0002", Action.ALARM),
    Step(1.0, "SA-0003", Action.LOW_BATTERY),
    Step(2.5, "SA-0002", Action.CLEAR),
]
IR_SCRIPT = [
    IrStep(0.3, "IR-0001", IrAction.PASSER_BY),  # a passer-by: no case
    IrStep(1.0, "IR-0001", IrAction.GOODS_OUT),
    IrStep(4.0, "IR-0001", IrAction.GOODS_IN),
]
FAST = Liveness(heartbeat_interval_s=0.5, offline_after_s=3)


def _fast_shopfront_pack(path: Path) -> Path:
    doc = yaml.safe_load((BUILTIN_PACKS / "shopfront.yaml").read_text())
    rule = doc["rules"][0]
    rule.update(condition="value >= 1.5", keep_firing_s=0.5)
    del rule["schedule"], rule["escalate"]
    path.write_text(yaml.safe_dump(doc))
    return path


async def _cases(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get("/api/cases", params={"status": "all"})
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


async def _wait_for(http: httpx.AsyncClient, found: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    async with asyncio.timeout(15):
        while not found(cases := await _cases(http)):
            await asyncio.sleep(0.1)
    return cases


@pytest.fixture
async def centre_cases(broker: Mosquitto, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    url = BrokerConfig.model_validate(broker.url)
    config = demo_gateway_config(url, tmp_path / "agent")
    devices = [d.model_copy(update={"liveness": FAST}) for d in config.inventory.devices[:3]]
    devices.append(
        DeviceEntry(id="IR-0001", profile="ir-shopfront-sensor", location=Location(site="No. 12 shop"), liveness=FAST)
    )
    packs = [BUILTIN_PACKS / "smoke_alarm.yaml", _fast_shopfront_pack(tmp_path / "shopfront.yaml")]
    config = config.model_copy(
        update={"inventory": config.inventory.model_copy(update={"devices": devices}), "rule_packs": packs}
    )
    agent = Agent(config)
    port = free_port()
    centre = centre_config(url, tmp_path, port)
    alarms = SmokeAlarmFleet(url, ALARMS, heartbeat_s=0.5, script=SMOKE_SCRIPT)
    shopfront = IrSensorFleet(url, ["IR-0001"], heartbeat_s=0.5, script=IR_SCRIPT)
    stop, ready = asyncio.Event(), asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(run_center(centre, stop=stop, ready=ready))
        await asyncio.wait_for(ready.wait(), 10)
        tg.create_task(agent.run(stop))
        await asyncio.sleep(0.3)  # the agent subscribes before the first scripted step
        simulators = [tg.create_task(alarms.run()), tg.create_task(shopfront.run())]
        auth = AUTH
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=auth) as http:
            try:
                yield http
            finally:
                for task in simulators:
                    task.cancel()
                stop.set()


async def test_exactly_the_expected_events_reach_the_centre(centre_cases: httpx.AsyncClient) -> None:
    def settled(cases: list[dict[str, Any]]) -> bool:
        done = {(c["category"], c["source_status"]) for c in cases}
        return {
            ("fire_safety.smoke_alarm", "resolved"),
            ("street_order.outside_shop_operation", "resolved"),
        } <= done and len(cases) >= 4

    cases = await _wait_for(centre_cases, settled)
    await asyncio.sleep(1.0)  # anything extra would arrive now
    cases = await _cases(centre_cases)
    got = sorted((c["category"], c["device_id"], c["severity"], c["source_status"], c["seq"]) for c in cases)
    assert got == [
        ("device.low_battery", "SA-0003", "info", "firing", 1),
        ("device.tamper", "SA-0001", "minor", "firing", 1),
        ("fire_safety.smoke_alarm", "SA-0002", "critical", "resolved", 2),
        ("street_order.outside_shop_operation", "IR-0001", "minor", "resolved", 2),
    ]
