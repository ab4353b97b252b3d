"""Modbus writes against a real pymodbus server (the charging-pile simulator): coils and holding
registers set and read back, coils and discrete inputs read, refusals named; and the same write as a
signed downlink command reaching the running agent: switch a charging port off."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gridedge.cloud_bridge.downlink import Downlink
from gridedge.devices.binding import bind
from gridedge.devices.buses import ModbusTcpBus
from gridedge.devices.drivers.modbus import BusCounters, ModbusBusDriver, WriteFailedError, polled_devices
from gridedge.devices.inventory import Inventory
from gridedge.devices.profile import load_profile
from gridedge.devices.registers import WriteRefused
from gridedge.edge.clock import SystemClock
from gridedge.edge.command import CommandName, gateway_key, sign
from gridedge.edge.reading import Reading
from gridedge.gateway.agent import Agent
from gridedge.gateway.settings import load_gateway_config
from gridedge.simulators.charging_pile import Fault, PileServer, plugged_piles
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

# The simulator's control map, as its docstring states it: coil n-1 switches port n, discrete inputs
# 0-2 arc fault, door, smoke; port n's block is 16 n, +6 bit 0 the relay, +8 a writable power limit.
CONTROL = """
id: shed-pile-control
vendor: Generic
model: 10-port e-bike charging pile, control points
family: charging_pile
transport: {type: modbus, poll_interval_s: 0.1}
points:
  - {name: port3.enable, modbus: {table: coil, address: 2}, type: bool, writable: true}
  - {name: port3.relay, modbus: {address: 54, bit: 0}, type: bool, role: relay}
  - {name: port3.power, modbus: {address: 50}, type: float, unit: W, role: power}
  - {name: port3.power_limit, modbus: {address: 56}, type: float, unit: W, min: 0, max: 1000, writable: true}
  - {name: arc_fault, modbus: {table: discrete, address: 0}, type: bool, role: arc_fault}
  - {name: door, modbus: {table: discrete, address: 1}, type: bool, role: door}
  - {name: smoke, modbus: {table: discrete, address: 2}, type: bool, role: smoke}
"""


@dataclass
class Shed:
    server: PileServer
    driver: ModbusBusDriver
    seen: list[Reading]

    def latest(self, point: str) -> object:
        return next(r.value for r in reversed(self.seen) if r.point == point)

    async def next_poll(self) -> None:
        n = self.driver.counters["polls"]
        async with asyncio.timeout(5):
            while self.driver.counters["polls"] < n + 2:
                await asyncio.sleep(0.02)


@pytest.fixture
async def shed(tmp_path: Path) -> AsyncIterator[Shed]:
    (tmp_path / "control.yaml").write_text(CONTROL)
    profile = load_profile(tmp_path / "control.yaml")
    server = PileServer(plugged_piles([1], ports_in_use=4))
    port = free_port()
    await server.start_tcp("127.0.0.1", port)
    inventory = Inventory.model_validate(
        {
            "devices": [
                {
                    "id": "EP-1",
                    "profile": profile.id,
                    "location": {"site": "shed"},
                    "modbus": {"bus": "shed", "unit": 1, "poll_interval_s": 0.1, "timeout_s": 0.3},
                }
            ]
        }
    )
    bindings = bind(inventory, {profile.id: profile}, "inventory", frozenset({"shed"}))
    seen: list[Reading] = []

    async def sink(readings: list[Reading]) -> None:
        seen.extend(readings)

    bus = ModbusTcpBus(name="shed", host="127.0.0.1", port=port)
    driver = ModbusBusDriver(bus, polled_devices(bindings, "shed"), sink, SystemClock(), BusCounters())
    task = asyncio.create_task(driver.run())
    try:
        shed = Shed(server, driver, seen)
        await shed.next_poll()
        yield shed
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()


async def test_coils_and_holding_registers_are_written_and_read_back(shed: Shed) -> None:
    assert shed.latest("port3.relay") is True
    assert await shed.driver.write("EP-1", "port3.enable", False) is False
    assert shed.server.piles[1].ports[2].relay is False
    await shed.next_poll()
    assert (shed.latest("port3.enable"), shed.latest("port3.relay")) == (False, False)

    assert await shed.driver.write("EP-1", "port3.enable", True) is True
    assert await shed.driver.write("EP-1", "port3.power_limit", 150) == 150.0
    await shed.next_poll()
    assert shed.latest("port3.relay") is True
    assert shed.latest("port3.power") == 150.0  # the pile now caps the port at the written limit
    assert shed.driver.stats.devices["EP-1"]["writes"] == 3


async def test_discrete_inputs_are_read(shed: Shed) -> None:
    assert shed.latest("smoke") is False
    shed.server.piles[1].smoke = True
    shed.server.piles[1].door_open = True
    await shed.next_poll()
    assert (shed.latest("smoke"), shed.latest("door"), shed.latest("arc_fault")) == (True, True, False)


@pytest.mark.parametrize(
    ("point", "value", "why"),
    [
        ("port3.power", 10, "port3.power: not writable (the profile does not mark it `writable: true`)"),
        ("port3.power_limit", 5000, "port3.power_limit: 5000 is above its max 1000.0"),
        ("port3.power_limit", 12.5, "port3.power_limit: 12.5 is not a whole number of steps of 1"),
        ("port3.enable", "off", "port3.enable: a coil takes true or false, not 'off'"),
        ("port9.enable", True, "no point 'port9.enable' in profile 'shed-pile-control'"),
    ],
)
async def test_a_write_the_profile_does_not_allow_is_refused_by_name(
    shed: Shed, point: str, value: object, why: str
) -> None:
    with pytest.raises(WriteRefused) as err:
        await shed.driver.write("EP-1", point, value)
    assert str(err.value) == why
    assert shed.server.piles[1].ports[2].enabled is True


async def test_a_device_that_refuses_the_write_is_named(shed: Shed) -> None:
    shed.server.piles[1].refuse = True
    with pytest.raises(WriteFailedError, match=r"EP-1 port3\.enable: Modbus exception 4 to the write"):
        await shed.driver.write("EP-1", "port3.enable", False)
    assert shed.driver.stats.devices["EP-1"]["write_failures"] == 1


KEY = gateway_key(b"city", "gw-w")


async def test_a_signed_command_switches_an_overheating_port_off(broker: Mosquitto, tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "control.yaml").write_text(CONTROL)
    port = free_port()
    config = {
        "gateway": {
            "id": "gw-w",
            "grid": {
                k: {"code": c} for k, c in (("district", "D"), ("street", "S"), ("community", "C"), ("grid", "G"))
            },
            "location": {"site": "shed"},
        },
        "uplink": {"broker": broker.url},
        "southbound": {
            "mqtt": broker.url,
            "modbus": [{"type": "tcp", "name": "shed", "host": "127.0.0.1", "port": port}],
        },
        "state_dir": "agent",
        "api": {"enabled": False},
        "profile_dirs": ["profiles"],
        "inventory": {
            "devices": [
                {
                    "id": "EP-1",
                    "profile": "shed-pile-control",
                    "location": {"site": "shed"},
                    "modbus": {"bus": "shed", "unit": 1, "poll_interval_s": 0.2, "timeout_s": 0.3},
                }
            ]
        },
    }
    (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(config))
    agent = Agent(load_gateway_config(tmp_path / "gateway.yaml"))
    server = PileServer(plugged_piles([1], ports_in_use=4))
    server.piles[1].ports[2].faults.add(Fault.OVER_TEMPERATURE)
    await server.start_tcp("127.0.0.1", port)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    downlink = Downlink("gw-w", KEY, agent.commands.table(), clock=agent.clock)

    async def command(args: dict[str, object]) -> dict[str, object]:
        signed = sign(KEY, CommandName.WRITE_POINT, "gw-w", args, now=agent.clock.now())
        reply = await downlink.handle(signed.topic, signed.to_json())
        body: dict[str, object] = json.loads(reply.payload)
        return body

    try:
        await asyncio.sleep(1.0)  # buses started, first polls done
        reply = await command({"device_id": "EP-1", "point": "port3.enable", "value": False})
        assert reply["ok"] is True, reply
        assert reply["result"] == {"device_id": "EP-1", "point": "port3.enable", "value": False}
        assert server.piles[1].ports[2].relay is False
        refused = await command({"device_id": "EP-1", "point": "port3.power", "value": 0})
        assert (refused["ok"], refused["detail"]) == (
            False,
            "port3.power: not writable (the profile does not mark it `writable: true`)",
        )
        forged = sign(gateway_key(b"other city", "gw-w"), CommandName.WRITE_POINT, "gw-w",
                      {"device_id": "EP-1", "point": "port3.enable", "value": True}, now=agent.clock.now())  # fmt: skip
        reply_forged = json.loads((await downlink.handle(forged.topic, forged.to_json())).payload)
        assert reply_forged["ok"] is False
        assert server.piles[1].ports[2].enabled is False  # a forged command changed nothing
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await server.stop()
