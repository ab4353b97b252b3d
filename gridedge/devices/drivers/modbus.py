"""Modbus driver: one coordinator per bus (a TCP endpoint or a serial line) polls its devices in turn.

One request at a time per bus, because an RS-485 line carries one; each device is read with its
profile's planned reads (as few as the protocol allows), its own timeout and retries, and its own
poll interval. A device that does not answer is reported once as unavailable (every point, quality
UNAVAILABLE), and from then on is only probed, with one try, when the bus has the time free before
the next healthy device is due: a dead pile costs its neighbours on the line nothing after the first
miss. A Modbus exception answer is an answer: the points of that read become bad quality.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import operator
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from gridedge.devices.binding import DeviceBinding
from gridedge.devices.buses import ModbusAddress, ModbusBus, ModbusTcpBus
from gridedge.devices.profile import Table
from gridedge.devices.registers import (
    Answer,
    ModbusPlan,
    Read,
    ReadFailed,
    Write,
    WriteRefused,
    decode_registers,
    plan_write,
    unavailable,
)
from gridedge.edge.clock import Clock
from gridedge.edge.reading import Reading
from gridedge.edge.reconnect import Backoff, cancel_if_requested

log = logging.getLogger(__name__)

ReadingSink = Callable[[list[Reading]], Awaitable[None]]
Client = AsyncModbusTcpClient | AsyncModbusSerialClient

PYMODBUS_TIMEOUT_S = 60.0  # our own per-device timeout always fires first, so pymodbus never drops the line
PROBE_AFTER_S = 60.0  # an unavailable device is probed at least this often, even on a busy line


_READS = {
    Table.HOLDING: "read_holding_registers",
    Table.INPUT: "read_input_registers",
    Table.COIL: "read_coils",
    Table.DISCRETE: "read_discrete_inputs",
}
_DUE = operator.attrgetter("due")


class NoAnswerError(Exception):
    """The device did not answer in time, or the bus itself is down."""


@dataclass(slots=True)
class PolledDevice:
    id: str
    plan: ModbusPlan
    address: ModbusAddress
    interval_s: float
    due: float = 0.0
    available: bool | None = None  # None until the first poll
    problems: tuple[str, ...] = ()
    polls: int = field(default=0)

    @property
    def worst_case_s(self) -> float:
        tries = 1 if self.available is False else self.address.retries + 1
        return self.address.timeout_s * tries * (1 if self.available is False else len(self.plan.reads))


def polled_devices(bindings: Sequence[DeviceBinding], bus: str) -> list[PolledDevice]:
    found = []
    for b in bindings:
        if isinstance(b.compiled, ModbusPlan) and b.device.modbus is not None and b.device.modbus.bus == bus:
            interval = b.device.modbus.poll_interval_s or b.compiled.transport.poll_interval_s
            found.append(PolledDevice(b.device.id, b.compiled, b.device.modbus, interval))
    return found


def make_client(bus: ModbusBus) -> Client:
    if isinstance(bus, ModbusTcpBus):
        return AsyncModbusTcpClient(
            bus.host, port=bus.port, timeout=PYMODBUS_TIMEOUT_S, retries=0, reconnect_delay=0, name=bus.name
        )
    return AsyncModbusSerialClient(
        bus.port,
        framer=FramerType.RTU,
        baudrate=bus.baudrate,
        bytesize=bus.bytesize,
        parity=bus.parity,
        stopbits=bus.stopbits,
        timeout=PYMODBUS_TIMEOUT_S,
        retries=0,
        reconnect_delay=0,
        name=bus.name,
    )


async def _within(request: Awaitable[ModbusPDU], seconds: float) -> ModbusPDU | None:
    """The answer, or None when none came in time or the link failed.

    pymodbus turns a cancel into its own exception, and Python 3.11's `wait_for` inside it can lose a
    cancel that races the answer: whatever became of it, a cancel the task was asked for is raised here
    once the request is over, so the agent's shutdown always ends the driver. Awaited in the caller's
    task (not a task of its own): a request costs no task, no extra turn of the event loop."""
    try:
        async with asyncio.timeout(seconds):
            answer: ModbusPDU | None = await request
    except Exception:  # a timeout, a closed link, pymodbus's own errors, a garbled answer: no answer
        answer = None
    cancel_if_requested()
    return answer


@dataclass
class BusCounters:
    """A bus's counts and each of its devices' (polls, requests, timeouts, exceptions, unavailable), kept
    by whoever runs the drivers so they survive a driver restarted on a reload: /metrics counters only rise."""

    bus: Counter[str] = field(default_factory=Counter)
    devices: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def copy(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Copies (each one atomic step under the GIL) for a scrape on another thread."""
        return dict(self.bus), {device: dict(c) for device, c in list(self.devices.items())}


class WriteFailedError(Exception):
    """A write the device did not take: refused, unanswered, or read back as something else."""


def _same(got: object, wanted: object) -> bool:
    if isinstance(got, float) and isinstance(wanted, int | float) and not isinstance(wanted, bool):
        return math.isclose(got, wanted, rel_tol=1e-6, abs_tol=1e-9)
    return got == wanted and type(got) is type(wanted)


class ModbusBusDriver:
    def __init__(
        self,
        bus: ModbusBus,
        devices: list[PolledDevice],
        sink: ReadingSink,
        clock: Clock,
        counters: BusCounters | None = None,
    ) -> None:
        self.bus = bus
        self.devices = devices
        self.stats = counters if counters is not None else BusCounters()
        self.counters = self.stats.bus
        self._sink = sink
        self._clock = clock
        self._client = make_client(bus)
        self._backoff = Backoff(initial=0.5, maximum=30.0)
        self._line = asyncio.Lock()  # one request at a time on the bus: polls and writes take turns
        self._delivery: asyncio.Task[None] | None = None  # the last poll's decoding and sink, see `_poll`

    @property
    def where(self) -> str:
        return f"modbus bus {self.bus.name}"

    async def run(self) -> None:
        """Poll until cancelled."""
        if not self.devices:
            return
        loop = asyncio.get_running_loop()
        for d in self.devices:
            d.due = loop.time()
        try:
            while True:
                device = await self._next_device(loop)
                if not await self._connected():
                    await self._bus_down(loop)
                    continue
                async with self._line:
                    await self._poll(device)
                now = loop.time()
                device.due = max(device.due + device.interval_s, now) if device.available else now + device.interval_s
        finally:
            if self._delivery is not None:
                self._delivery.cancel()
            self._client.close()

    async def _next_device(self, loop: asyncio.AbstractEventLoop) -> PolledDevice:
        """The device due first, except that an unavailable one goes only when its probe fits in the idle
        time before the next healthy device is due, or when it has waited PROBE_AFTER_S for such a gap."""
        while True:
            now = loop.time()
            first = min(self.devices, key=_DUE)  # as the loop below would take it first (min and sorted agree on ties)
            if first.due <= now and first.available is not False:
                return first
            healthy_due = min((d.due for d in self.devices if d.available is not False), default=math.inf)
            waiting = []
            for d in sorted(self.devices, key=lambda d: d.due):
                if d.due > now:
                    break
                if d.available is not False or now + d.worst_case_s <= healthy_due or now >= d.due + PROBE_AFTER_S:
                    return d
                waiting.append(d.due + PROBE_AFTER_S)
            later = (d.due for d in self.devices if d.due > now)
            wake = min(healthy_due, *waiting, min(later, default=math.inf))
            await asyncio.sleep(max(0.0, wake - now))

    async def _connected(self) -> bool:
        if self._client.connected:
            return True
        with contextlib.suppress(TimeoutError, OSError, ModbusException):
            timeout = self.bus.connect_timeout_s if isinstance(self.bus, ModbusTcpBus) else 3.0
            if await asyncio.wait_for(self._client.connect(), timeout):
                log.info("%s: connected", self.where)
                self._backoff.reset()
                return True
        return False

    async def _bus_down(self, loop: asyncio.AbstractEventLoop) -> None:
        self.counters["bus_down"] += 1
        for d in self.devices:
            await self._mark_unavailable(d, f"{self.where} cannot be opened")
        delay = self._backoff.next_delay()
        log.warning("%s: cannot connect; retrying in %.1f s", self.where, delay)
        await asyncio.sleep(delay)
        for d in self.devices:
            d.due = loop.time()

    async def _poll(self, device: PolledDevice) -> None:
        self.counters["polls"] += 1
        self.stats.devices[device.id]["polls"] += 1
        device.polls += 1
        ts = self._clock.now()
        tries = 1 if device.available is False else device.address.retries + 1
        answers: list[Answer] = []
        try:
            for read in device.plan.reads:
                answers.append(await self._read(device, read, tries))
        except NoAnswerError as exc:
            await self._mark_unavailable(device, str(exc))
            return
        if device.available is False:
            log.info("device %s (%s unit %d): answering again", device.id, self.where, device.address.unit)
        device.available = True
        # Decoded and delivered in a task of its own, which first runs once the next request is on the
        # wire: decoding overlaps the wait for the next answer. One at a time, in order (`_delivered`).
        await self._delivered()
        self._delivery = asyncio.create_task(self._deliver(device, answers, ts))

    async def _deliver(self, device: PolledDevice, answers: list[Answer], ts: float) -> None:
        decoded = decode_registers(device.plan, answers, device.id, ts)
        problems = tuple(decoded.problems)
        if problems and problems != device.problems:
            log.warning("device %s (%s unit %d): %s", device.id, self.where, device.address.unit, "; ".join(problems))
        device.problems = problems
        self.counters["rejected_fields"] += len(problems)
        self.counters["readings"] += len(decoded.readings)
        await self._sink(decoded.readings)

    async def _delivered(self) -> None:
        """Once the last poll's readings are in the sink (raising what the sink raised): whatever goes to
        the sink next goes after them, and a slow sink holds the polls back by one poll at most."""
        delivery = self._delivery
        if delivery is not None:
            if not delivery.done():
                await asyncio.shield(delivery)  # a write's caller cancelled meanwhile does not cancel the polls'
            delivery.result()

    async def _read(self, device: PolledDevice, read: Read, tries: int) -> Answer:
        unit, timeout = device.address.unit, device.address.timeout_s
        mine = self.stats.devices[device.id]
        for _ in range(tries):
            self.counters["requests"] += 1
            mine["requests"] += 1
            response = await _within(self._request(read, unit), timeout)
            if response is None:
                self.counters["timeouts"] += 1
                mine["timeouts"] += 1
                continue
            if isinstance(response, ExceptionResponse) or response.isError():
                self.counters["exceptions"] += 1
                mine["exceptions"] += 1
                code = getattr(response, "exception_code", 0)
                return ReadFailed(f"Modbus exception {code}")
            values: list[int] | list[bool] = response.bits if read.table.holds_bits else response.registers
            return values[: read.count]
        raise NoAnswerError(f"no answer within {timeout} s after {tries} tries")

    async def write(self, device_id: str, point: str, value: object) -> object:
        """Set a writable point (a coil or holding register its profile marks `writable`), then read it
        back; the value read back is returned. Raises WriteRefused (the profile or value does not allow
        it) or WriteFailedError (the device refused, did not answer, or reads back something else)."""
        device = next((d for d in self.devices if d.id == device_id), None)
        if device is None:
            raise WriteRefused(f"device {device_id!r} is not on {self.where}")
        write, back = plan_write(device.plan, point, value)
        unit, timeout = device.address.unit, device.address.timeout_s
        async with self._line:
            if not await self._connected():
                raise WriteFailedError(f"{self.where} cannot be opened")
            self.stats.devices[device_id]["writes"] += 1
            answer = await _within(self._write_request(write, unit), timeout)
            if answer is None or isinstance(answer, ExceptionResponse) or answer.isError():
                self.stats.devices[device_id]["write_failures"] += 1
                code = getattr(answer, "exception_code", None)
                why = "no answer" if answer is None else f"Modbus exception {code}"
                raise WriteFailedError(f"{device_id} {point}: {why} to the write")
            read = back.reads[0]
            answers: list[Answer] = [await self._read(device, read, device.address.retries + 1)]
        decoded = decode_registers(back, answers, device_id, self._clock.now())
        got = decoded.readings[0].value if decoded.readings else None
        if decoded.problems or not _same(got, value):
            self.stats.devices[device_id]["write_failures"] += 1
            raise WriteFailedError(f"{device_id} {point}: wrote {value!r}, read back {got!r}")
        log.info("device %s (%s unit %d): %s set to %r, read back", device_id, self.where, unit, point, got)
        await self._delivered()
        await self._sink(decoded.readings)  # the new value reaches the rules at once
        return got

    def _write_request(self, write: Write, unit: int) -> Awaitable[ModbusPDU]:
        if isinstance(write.values, bool):
            return self._client.write_coil(write.address, write.values, device_id=unit)
        if len(write.values) == 1:
            return self._client.write_register(write.address, write.values[0], device_id=unit)
        return self._client.write_registers(write.address, list(write.values), device_id=unit)

    def _request(self, read: Read, unit: int) -> Awaitable[ModbusPDU]:
        call: Callable[..., Awaitable[ModbusPDU]] = getattr(self._client, _READS[read.table])
        return call(read.address, count=read.count, device_id=unit)

    async def _mark_unavailable(self, device: PolledDevice, why: str) -> None:
        if device.available is False:
            return
        device.available = False
        device.problems = ()
        self.counters["unavailable"] += 1
        self.stats.devices[device.id]["unavailable"] += 1
        log.warning("device %s (%s unit %d): %s; unavailable", device.id, self.where, device.address.unit, why)
        await self._delivered()
        await self._sink(unavailable(device.plan, device.id, self._clock.now()))
