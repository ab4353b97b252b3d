"""Scenario `modbus`: points/s the Modbus driver polls from simulated piles over TCP, and the same
registers read by plain pymodbus in the same run (`ratio_to_raw_pymodbus` = ours / raw).

PILES 10-port piles answer on one TCP port from a separate process (so the figure is the gateway's
cost, not the simulator's). Ours: one bus coordinator polling every pile back to back (poll interval
1 ms), decoding each answer into 84 readings. Raw: a pymodbus client issuing the same two reads per
pile in the same order, decoding nothing. Both run for SECONDS each.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from pymodbus.client import AsyncModbusTcpClient

from bench.harness import Measured
from gridedge.devices.binding import bind
from gridedge.devices.buses import ModbusTcpBus
from gridedge.devices.drivers.modbus import ModbusBusDriver, polled_devices
from gridedge.devices.inventory import Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.devices.registers import plan_reads
from gridedge.devtools.broker import free_port
from gridedge.edge.clock import SystemClock
from gridedge.edge.reading import Reading

PILES = 10
POINTS = 84


async def _ours(port: int, seconds: float) -> float:
    inventory = Inventory.model_validate(
        {
            "devices": [
                {
                    "id": f"EP-{u}",
                    "profile": "ebike-charging-pile-10",
                    "location": {"site": "bench"},
                    "modbus": {"bus": "bench", "unit": u, "poll_interval_s": 0.001, "timeout_s": 2},
                }
                for u in range(1, PILES + 1)
            ]
        }
    )
    bindings = bind(inventory, load_profiles([BUILTIN_PROFILES]), "bench", frozenset({"bench"}))
    readings = 0

    async def sink(batch: list[Reading]) -> None:
        nonlocal readings
        readings += len(batch)

    bus = ModbusTcpBus(name="bench", host="127.0.0.1", port=port)
    driver = ModbusBusDriver(bus, polled_devices(bindings, "bench"), sink, SystemClock())
    task = asyncio.create_task(driver.run())
    await asyncio.sleep(0.5)  # connected and warm
    start_readings, started = readings, time.perf_counter()
    await asyncio.sleep(seconds)
    done, elapsed = readings - start_readings, time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return done / elapsed


async def _raw(port: int, seconds: float) -> float:
    reads = plan_reads(load_profiles([BUILTIN_PROFILES])["ebike-charging-pile-10"]).reads
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    await client.connect()
    polls = 0
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            for unit in range(1, PILES + 1):
                for r in reads:
                    await client.read_holding_registers(r.address, count=r.count, device_id=unit)
                polls += 1
        return polls * POINTS / (time.perf_counter() - started)
    finally:
        client.close()


def run(quick: bool) -> Measured:
    seconds = 3.0 if quick else 15.0
    port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "gridedge.simulators.charging_pile", str(port), str(PILES)])
    try:
        time.sleep(1.5)
        ours = asyncio.run(_ours(port, seconds))
        raw = asyncio.run(_raw(port, seconds))
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    return Measured(
        figures={"points_per_s": ours, "raw_pymodbus_points_per_s": raw, "ratio_to_raw_pymodbus": ours / raw},
        bounds=f"{PILES} piles x {POINTS} points over Modbus TCP on loopback; {seconds:.0f} s each side",
        settings={"transport": "Modbus TCP on loopback, charging-pile simulator (pymodbus server)"},
    )
