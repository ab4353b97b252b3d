"""The Modbus TCP driver against the charging-pile simulator, a real pymodbus server on loopback."""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from gridedge.devices.binding import bind
from gridedge.devices.buses import ModbusTcpBus
from gridedge.devices.drivers.modbus import ModbusBusDriver, polled_devices
from gridedge.devices.inventory import Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.edge.clock import SystemClock
from gridedge.edge.reading import Quality, Reading
from gridedge.simulators.charging_pile import CHARGER_W, MAINS_V, Fault, PileServer, plugged_piles
from tests.servers import free_port

pytestmark = pytest.mark.integration

PROFILES = load_profiles([BUILTIN_PROFILES])


@dataclass
class Polling:
    server: PileServer
    driver: ModbusBusDriver
    batches: list[list[Reading]] = field(default_factory=list)

    async def until(self, what: str, found: Callable[[], bool], timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while not found():
                await asyncio.sleep(0.02)
        assert found(), what

    def latest(self) -> dict[str, Reading]:
        return {r.point: r for r in self.batches[-1]}


def _inventory(units: list[int], interval: float, timeout: float = 0.3) -> Inventory:
    return Inventory.model_validate(
        {
            "devices": [
                {
                    "id": f"EP-{u}",
                    "profile": "ebike-charging-pile-10",
                    "location": {"site": "shed"},
                    "modbus": {"bus": "shed", "unit": u, "poll_interval_s": interval, "timeout_s": timeout},
                }
                for u in units
            ]
        }
    )


@pytest.fixture
async def polling() -> AsyncIterator[Polling]:
    server = PileServer(plugged_piles([1]))
    port = free_port()
    await server.start_tcp("127.0.0.1", port)
    bus = ModbusTcpBus(name="shed", host="127.0.0.1", port=port)
    bindings = bind(_inventory([1], 0.1), PROFILES, "inv", frozenset({"shed"}))
    batches: list[list[Reading]] = []

    async def sink(readings: list[Reading]) -> None:
        batches.append(readings)

    driver = ModbusBusDriver(bus, polled_devices(bindings, "shed"), sink, SystemClock())
    task = asyncio.create_task(driver.run())
    try:
        yield Polling(server, driver, batches)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()


async def test_a_ten_port_pile_reads_right_in_the_fewest_requests(polling: Polling) -> None:
    await polling.until("three polls", lambda: len(polling.batches) >= 3)
    polls = polling.driver.counters["polls"]
    # 84 points over registers 0..167: two requests is the protocol's minimum (125 registers each).
    assert polling.server.requests[1] in (2 * polls, 2 * polls - 1)  # the last poll may be mid-way
    assert polling.driver.counters["requests"] == polling.server.requests[1]
    values = polling.latest()
    assert len(values) == 84
    assert all(r.quality is Quality.GOOD for r in values.values())
    pile = polling.server.piles[1]
    assert values["port1.voltage"].value == pytest.approx(MAINS_V, abs=1.6)
    assert values["port1.power"].value == CHARGER_W
    assert values["port1.current"].value == pytest.approx(CHARGER_W / MAINS_V, abs=0.02)
    assert values["port1.charging"].value is True
    assert values["port1.relay"].value is True
    assert values["port1.state"].value == "charging"
    assert values["port5.charging"].value is False
    assert values["port5.state"].value == "idle"
    assert values["total_power"].value == 4 * CHARGER_W
    assert values["port1.temperature"].value == pytest.approx(pile.ports[0].temperature_c, abs=0.2)
    assert values["port2.current"].role == "charging_pile.current"  # scoped to its family: only charging rules see it
    assert values["port2.current"].unit == "A"


async def test_injected_hazards_show_in_the_readings(polling: Polling) -> None:
    pile = polling.server.piles[1]
    pile.arc_fault = True
    pile.ports[1].faults.add(Fault.OVER_CURRENT)
    n = len(polling.batches)
    await polling.until("a poll after the faults", lambda: len(polling.batches) > n + 1)
    values = polling.latest()
    assert values["arc_fault"].value is True
    assert values["port2.power"].value == 6 * CHARGER_W
    assert values["port2.state"].value == "fault"


async def test_exception_answers_are_bad_quality_and_silence_is_unavailable(polling: Polling) -> None:
    await polling.until("first poll", lambda: len(polling.batches) >= 1)
    polling.server.piles[1].refuse = True
    await polling.until("an exception answer", lambda: polling.driver.counters["exceptions"] >= 2)
    await polling.until("the poll's readings", lambda: polling.latest()["total_power"].quality is Quality.BAD)
    assert {r.quality for r in polling.latest().values()} == {Quality.BAD}

    polling.server.piles[1].refuse = False
    polling.server.silence(1)
    await polling.until("unavailable", lambda: polling.driver.counters["unavailable"] == 1)
    assert {r.quality for r in polling.latest().values()} == {Quality.UNAVAILABLE}
    n = len(polling.batches)
    await asyncio.sleep(0.5)
    assert len(polling.batches) == n  # reported once, not on every probe

    polling.server.resume(1)
    await polling.until("answering again", lambda: polling.latest()["total_power"].quality is Quality.GOOD)


async def _ends_on_cancel(task: asyncio.Task[None], within: float) -> None:
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within)
    assert done, "the driver did not end on cancel"
    assert task.cancelled()


async def _stopped(task: asyncio.Task[None], server: PileServer) -> None:
    """Ends a driver that failed to end on one cancel (so the failing test ends too), then the server."""
    await server.stop()
    for _ in range(100):
        if task.done():
            break
        task.cancel()
        await asyncio.wait({task}, timeout=0.05)


async def test_a_cancel_during_a_request_ends_the_driver_at_once() -> None:
    """pymodbus turns a cancel into its own error: the driver must still end, not count a timeout."""
    server = PileServer(plugged_piles([1]))
    port = free_port()
    await server.start_tcp("127.0.0.1", port)
    server.silence(1)
    bus = ModbusTcpBus(name="shed", host="127.0.0.1", port=port)
    bindings = bind(_inventory([1], 0.1, timeout=10), PROFILES, "inv", frozenset({"shed"}))

    async def sink(readings: list[Reading]) -> None:
        pass

    driver = ModbusBusDriver(bus, polled_devices(bindings, "shed"), sink, SystemClock())
    task = asyncio.create_task(driver.run())
    try:
        async with asyncio.timeout(5):
            while driver.counters["requests"] < 1:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # the request is waiting for an answer that never comes
        await _ends_on_cancel(task, within=1.0)
        assert driver.counters["timeouts"] == 0
    finally:
        await _stopped(task, server)


async def test_a_cancel_at_any_step_of_a_poll_ends_the_driver() -> None:
    """A cancel landing at each turn of the event loop in turn (request sent, answer on its way, answer
    taken, decoding, the sink): including the one Python 3.11's wait_for loses when it races the answer."""
    server = PileServer(plugged_piles([1, 2]))
    port = free_port()
    await server.start_tcp("127.0.0.1", port)
    bus = ModbusTcpBus(name="shed", host="127.0.0.1", port=port)
    bindings = bind(_inventory([1, 2], 0.001, timeout=10), PROFILES, "inv", frozenset({"shed"}))
    polls = 0

    async def sink(readings: list[Reading]) -> None:
        nonlocal polls
        polls += 1

    task: asyncio.Task[None] | None = None
    try:
        for turns in range(30):  # a poll of two piles takes about 13 turns; each start costs pymodbus 0.1 s
            driver = ModbusBusDriver(bus, polled_devices(bindings, "shed"), sink, SystemClock())
            task = asyncio.create_task(driver.run())
            async with asyncio.timeout(5):
                while driver.counters["requests"] < 1:
                    await asyncio.sleep(0)
            for _ in range(turns):
                await asyncio.sleep(0)
            await _ends_on_cancel(task, within=2.0)
        assert polls > 0  # the sweep reached past whole polls
    finally:
        if task is not None:
            await _stopped(task, server)
        await server.stop()


async def test_readings_reach_a_slow_sink_whole_and_in_the_order_read() -> None:
    """Decoding and the sink run beside the next poll's requests: still one poll at a time, in order,
    and an unavailable report comes after the last poll that answered."""
    server = PileServer(plugged_piles([1, 2]))
    port = free_port()
    await server.start_tcp("127.0.0.1", port)
    bus = ModbusTcpBus(name="shed", host="127.0.0.1", port=port)
    bindings = bind(_inventory([1, 2], 0.01, timeout=0.2), PROFILES, "inv", frozenset({"shed"}))
    batches: list[list[Reading]] = []
    busy = 0

    async def sink(readings: list[Reading]) -> None:
        nonlocal busy
        busy += 1
        assert busy == 1, "two deliveries at once"
        await asyncio.sleep(0.005)
        batches.append(readings)
        busy -= 1

    driver = ModbusBusDriver(bus, polled_devices(bindings, "shed"), sink, SystemClock())
    task = asyncio.create_task(driver.run())
    try:
        async with asyncio.timeout(5):
            while len(batches) < 10:
                await asyncio.sleep(0.01)
        server.silence(2)
        async with asyncio.timeout(5):
            while driver.counters["unavailable"] < 1:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
    finally:
        await _stopped(task, server)
    assert all(len(b) == 84 and len({r.device_id for r in b}) == 1 for b in batches)
    for device in ("EP-1", "EP-2"):
        mine = [b for b in batches if b[0].device_id == device]
        assert [b[0].ts for b in mine] == sorted(b[0].ts for b in mine)
    last_of_2 = [b for b in batches if b[0].device_id == "EP-2"][-1]
    assert {r.quality for r in last_of_2} == {Quality.UNAVAILABLE}
