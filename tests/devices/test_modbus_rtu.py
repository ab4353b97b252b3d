"""Modbus RTU over a virtual serial line: several piles share it, one of them dead."""

import asyncio
from collections import defaultdict

import pytest

from gridedge.devices.binding import bind
from gridedge.devices.buses import ModbusRtuBus
from gridedge.devices.drivers.modbus import ModbusBusDriver, polled_devices
from gridedge.devices.inventory import Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.edge.clock import SystemClock
from gridedge.edge.reading import Quality, Reading
from gridedge.simulators.charging_pile import CHARGER_W, PileServer, plugged_piles
from tests.devices.serial_pair import serial_pair

pytestmark = pytest.mark.integration

INTERVAL = 0.4
TIMEOUT = 0.25  # per try; with one retry, a dead device's first poll takes 0.5 s: longer than the interval


async def test_a_dead_pile_does_not_delay_the_others_on_its_line() -> None:
    inventory = Inventory.model_validate(
        {
            "devices": [
                {
                    "id": f"EP-{u}",
                    "profile": "ebike-charging-pile-10",
                    "location": {"site": "shed"},
                    "modbus": {"bus": "line1", "unit": u, "poll_interval_s": INTERVAL, "timeout_s": TIMEOUT},
                }
                for u in (1, 2, 3)
            ]
        }
    )
    bindings = bind(inventory, load_profiles([BUILTIN_PROFILES]), "inv", frozenset({"line1"}))
    polls: dict[str, list[float]] = defaultdict(list)
    quality: dict[str, set[Quality]] = defaultdict(set)
    loop = asyncio.get_running_loop()

    async def sink(readings: list[Reading]) -> None:
        polls[readings[0].device_id].append(loop.time())
        quality[readings[0].device_id] |= {r.quality for r in readings}
        if readings[0].device_id == "EP-1":
            assert {r.point: r.value for r in readings}["port1.power"] == CHARGER_W

    with serial_pair() as (gateway_end, piles_end):
        server = PileServer(plugged_piles([1, 2, 3]))
        server.silence(3)
        await server.start_rtu(piles_end)
        bus = ModbusRtuBus(type="rtu", name="line1", port=gateway_end, baudrate=115_200)
        driver = ModbusBusDriver(bus, polled_devices(bindings, "line1"), sink, SystemClock())
        task = asyncio.create_task(driver.run())
        try:
            await asyncio.sleep(4.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await server.stop()

    assert quality["EP-3"] == {Quality.UNAVAILABLE}
    assert len(polls["EP-3"]) == 1  # reported unavailable once
    assert driver.counters["timeouts"] >= 3  # the first poll's two tries, then probes in idle time
    for device in ("EP-1", "EP-2"):
        assert quality[device] == {Quality.GOOD}
        gaps = [b - a for a, b in zip(polls[device][1:], polls[device][2:], strict=False)]
        assert len(gaps) >= 6, polls[device]
        assert max(gaps) < INTERVAL + 0.1, f"{device} polled late: {max(gaps):.3f} s apart"
