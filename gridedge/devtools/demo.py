"""`gridedge demo`: broker, simulated smoke alarms, the agent and the centre, in one command.

Default scenario (first 60 s): SA-0002 raises a smoke alarm at 10 s and clears it at 25 s; SA-0004
goes silent at 20 s and is reported offline 15 s later. Every step shows up at the centre within
seconds of happening.

Each part (centre, agent, simulators, the broker the demo started) is supervised: one that crashes is
logged and started again, and the others go on; a lost broker is each part's own to reconnect to. The
demo ends with an error only for its own mistakes (a broker it cannot start, a centre that never
comes up), never because a part failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import yaml
from pydantic import SecretStr

from gridedge.center.service import run_center
from gridedge.center.settings import DEMO_LOGIN, CenterConfig, ConsoleConfig, HttpConfig
from gridedge.devices.inventory import DeviceEntry, Inventory
from gridedge.devices.profile import Liveness
from gridedge.devtools.broker import free_port, local_broker, mosquitto_binary, port_open
from gridedge.devtools.demo_centre import DEMO_POLICY, demo_officers, write_demo_grid_map
from gridedge.devtools.supervise import supervised
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.errors import GridEdgeError
from gridedge.edge.grid import GridCell, GridUnit, Location
from gridedge.gateway.agent import Agent
from gridedge.gateway.settings import GatewayConfig, Identity, Southbound, Uplink
from gridedge.simulators.fleet import Fleet, FleetMix, inventory, publish
from gridedge.simulators.scenes import goods_left, write_clip
from gridedge.simulators.smoke_alarm import Action, SmokeAlarmFleet, Step
from gridedge.vision.config import CameraConfig

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
CENTRE_START_S = 60.0
SCENARIO = "Scenario: smoke alarm at 10 s, cleared at 25 s; SA-0004 silent from 20 s (offline ~15 s later)."
DEMO_API_TOKEN = "gridedge-demo-installer-token"  # noqa: S105 (the demo's throwaway gateway, printed for the user)


def demo_camera(workdir: Path) -> CameraConfig:
    """A shopfront camera playing a generated clip: goods are put out on the pavement and left there."""
    scene = dataclasses.replace(goods_left(), zone_settings={"dwell_s": 15.0, "clear_s": 3.0})
    video = write_clip(scene, workdir / "clips")
    sidecar = yaml.safe_load(video.with_suffix(".yaml").read_text(encoding="utf-8"))
    return CameraConfig.model_validate(
        {
            "id": "cam-shop-01",
            "source": str(video),
            "location": {"site": "Lucky Noodles shopfront", "address": "12 Willow Lane"},
            "zones": sidecar["camera"]["zones"],
        }
    )


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
        # amqtt, embedded when Mosquitto is not installed, speaks MQTT 3.1.1 only
        uplink=Uplink(broker=broker, protocol="5" if mosquitto_binary() is not None else "3.1.1"),
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
    with tempfile.TemporaryDirectory(prefix="gridedge-demo-") as tmp:
        workdir = Path(tmp)
        async with _broker(broker_url, workdir) as broker:
            port = http_port if not port_open(http_port) else free_port()
            center = CenterConfig(
                broker=broker,
                database=f"sqlite:///{workdir / 'center.db'}",
                http=HttpConfig(port=port, secure_cookies=False),  # plain HTTP on this machine
                client_id="gridedge-demo-centre",
                policy=DEMO_POLICY,
                console=ConsoleConfig(
                    grid_map=write_demo_grid_map(workdir / "grid.geojson"), gateway_offline_case_s=60
                ),
                officers=demo_officers(),
            )
            config = demo_gateway_config(broker, workdir / "agent")
            api_port = config.api.port if not port_open(config.api.port) else free_port()
            api = config.api.model_copy(update={"port": api_port, "token": SecretStr(DEMO_API_TOKEN)})
            config = config.model_copy(update={"api": api, "cameras": [demo_camera(workdir)]})
            if fleet_rate:  # a block's worth of simulated devices beside the scripted alarms
                devices = [
                    *config.inventory.devices,
                    *Inventory.model_validate({"devices": inventory(FleetMix())}).devices,
                ]
                config = config.model_copy(update={"inventory": Inventory(devices=devices)})
            await _run_parts(center, config, broker, duration, fleet_rate)


async def _run_parts(
    center: CenterConfig, config: GatewayConfig, broker: BrokerConfig, duration: float | None, fleet_rate: float
) -> None:
    """Every part under supervision until `duration` has passed (or for ever)."""
    stop = asyncio.Event()
    agents = [Agent(config)]  # the first made here: a mistake in the demo's own config ends the demo

    async def run_agent() -> None:
        await (agents.pop() if agents else Agent(config)).run(stop)  # after a crash: a fresh agent

    fleet = SmokeAlarmFleet(broker, DEMO_ALARMS, heartbeat_s=DEMO_LIVENESS.heartbeat_interval_s, script=DEMO_SCRIPT)
    centre_ready = asyncio.Event()
    async with asyncio.TaskGroup() as tg:

        def part(name: str, run: Callable[[], Awaitable[object]]) -> asyncio.Task[None]:
            return tg.create_task(supervised(name, run, stop), name=name)

        part("centre", lambda: run_center(center, stop=stop, ready=centre_ready))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(centre_ready.wait(), CENTRE_START_S)
        if not centre_ready.is_set():
            stop.set()
        else:
            part("agent", run_agent)
            simulator = part("simulator", fleet.run)
            if fleet_rate:
                part("fleet-simulator", lambda: publish(Fleet(FleetMix()), broker, fleet_rate, stop))
            _welcome(center, config, broker)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=duration)
            simulator.cancel()
            stop.set()
    if not centre_ready.is_set():
        raise DemoError(f"the grid centre did not start within {CENTRE_START_S:.0f} s (see the log above)")


def _welcome(center: CenterConfig, config: GatewayConfig, broker: BrokerConfig) -> None:
    print(f"GridEdge demo running. Grid centre: http://127.0.0.1:{center.http.port}/  (broker {broker.url})")
    print("Log in to the centre as {} / {} (admin)".format(*DEMO_LOGIN))
    levels = ", ".join(f"{o.username} ({o.role.value})" for o in center.officers[1:])
    print(f"  or as an officer of each level, same password: {levels}")
    print(f"Installer page: http://127.0.0.1:{config.api.port}/ui/  (API token {DEMO_API_TOKEN})")
    print("Camera cam-shop-01: goods left on the pavement become a case after 15 s of dwell.")
    print(SCENARIO, flush=True)


class DemoError(GridEdgeError):
    """The demo itself could not run (as opposed to one of its parts failing, which is repaired)."""
