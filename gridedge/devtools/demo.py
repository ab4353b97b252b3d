"""`gridedge demo`: broker, simulated smoke alarms, the agent and the centre, in one command.

Default scenario (first 60 s): SA-0002 raises a smoke alarm at 10 s and clears it at 25 s; SA-0004
goes silent at 20 s and is reported offline 15 s later. Every step shows up at the centre within
seconds of happening.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from gridedge.center.service import run_center
from gridedge.center.settings import DEMO_LOGIN, CenterConfig, HttpConfig, demo_officer
from gridedge.devices.inventory import DeviceEntry, Inventory
from gridedge.devices.profile import Liveness
from gridedge.devtools.broker import free_port, local_broker, port_open
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.grid import GridCell, GridUnit, Location
from gridedge.gateway.agent import Agent
from gridedge.gateway.settings import GatewayConfig, Identity, Southbound, Uplink
from gridedge.simulators.fleet import Fleet, FleetMix, inventory, publish
from gridedge.simulators.smoke_alarm import Action, SmokeAlarmFleet, Step

log = logging.getLogger(__name__)

DEMO_GRID = GridCell(
    district=GridUnit(code="D01", name="Demo District"),
    street=GridUnit(code="S03", name="Riverside Street"),
    community=GridUnit(code="C12", name="Willow Community"),
    grid=GridUnit(code="G07", name="Grid 7"),
)
DEMO_ALARMS = [f"SA-{i:04d}" for i in range(1, 6)]
DEMO_SCRIPT = [
    Step(10, "SA-0002", Action.ALARM),
    Step(20, "SA-0004", Action.SILENCE),
    Step(25, "SA-0002", Action.CLEAR),
]
DEMO_LIVENESS = Liveness(heartbeat_interval_s=5, offline_after_s=15)


def demo_gateway_config(broker: BrokerConfig, state_dir: Path) -> GatewayConfig:
    devices = [
        DeviceEntry(
            id=key,
            profile="generic-smoke-alarm",
            location=Location(site=f"Building {i} stairwell", address=f"{i} Willow Lane"),
            liveness=DEMO_LIVENESS,
        )
        for i, key in enumerate(DEMO_ALARMS, start=1)
    ]
    return GatewayConfig(
        gateway=Identity(id="gw-demo-01", grid=DEMO_GRID, location=Location(site="Willow Community gateway")),
        uplink=Uplink(broker=broker),
        southbound=Southbound(mqtt=broker),
        state_dir=state_dir,
        inventory=Inventory(devices=devices),
    )


@contextlib.asynccontextmanager
async def _broker(url: str | None, workdir: Path) -> AsyncIterator[BrokerConfig]:
    if url is not None:
        yield BrokerConfig.model_validate(url)
        return
    async with local_broker(workdir) as started:
        yield BrokerConfig.model_validate(started)


async def run_demo(broker_url: str | None, duration: float | None, http_port: int, fleet_rate: float = 0.0) -> None:
    stop = asyncio.Event()
    with tempfile.TemporaryDirectory(prefix="gridedge-demo-") as tmp:
        workdir = Path(tmp)
        async with _broker(broker_url, workdir) as broker:
            port = http_port if not port_open(http_port) else free_port()
            center = CenterConfig(
                broker=broker,
                database=f"sqlite:///{workdir / 'center.db'}",
                http=HttpConfig(port=port, secure_cookies=False),  # plain HTTP on this machine
                client_id="gridedge-demo-centre",
                officers=[demo_officer()],
            )
            config = demo_gateway_config(broker, workdir / "agent")
            if fleet_rate:  # a block's worth of simulated devices beside the scripted alarms
                devices = [
                    *config.inventory.devices,
                    *Inventory.model_validate({"devices": inventory(FleetMix())}).devices,
                ]
                config = config.model_copy(update={"inventory": Inventory(devices=devices)})
            agent = Agent(config)
            fleet = SmokeAlarmFleet(
                broker, DEMO_ALARMS, heartbeat_s=DEMO_LIVENESS.heartbeat_interval_s, script=DEMO_SCRIPT
            )
            centre_ready = asyncio.Event()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(run_center(center, stop=stop, ready=centre_ready), name="centre")
                await centre_ready.wait()
                tg.create_task(agent.run(stop), name="agent")
                simulator = tg.create_task(fleet.run(), name="simulator")
                if fleet_rate:
                    tg.create_task(publish(Fleet(FleetMix()), broker, fleet_rate, stop), name="fleet-simulator")
                print(
                    f"GridEdge demo running. Grid centre: http://127.0.0.1:{port}/  (broker {broker.url})", flush=True
                )
                print("Log in to the centre as {} / {}".format(*DEMO_LOGIN), flush=True)
                print(
                    "Scenario: smoke alarm at 10 s, cleared at 25 s; SA-0004 silent from 20 s (offline ~15 s later).",
                    flush=True,
                )
                try:
                    await asyncio.wait_for(stop.wait(), timeout=duration)
                except TimeoutError:
                    pass
                finally:
                    simulator.cancel()
                    stop.set()
