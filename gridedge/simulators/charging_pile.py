"""E-bike charging piles as Modbus servers (TCP, or RTU on a serial line), with the register map of
the built-in `ebike-charging-pile-10` profile written out here as a vendor manual would state it (so
a mistake in the profile is caught against it, not copied into it). Beyond what that profile reads:
coil n - 1 switches port n on or off (a welded relay stays closed), discrete inputs 0-2 mirror the arc
fault, door and smoke inputs, and holding register +8 of each port block is a writable power limit.

Physics, per port: a plugged-in battery charges at constant power up to 80 % and tapers to the full
point; the pile opens the relay once the charger draws almost nothing. Port temperature follows the
power drawn with a first-order lag. Faults are injected per port or per pile. Time is the wall clock
times `speed`, so a two-hour charge can pass in seconds; state advances whenever a request is served.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusBaseDeviceContext, ModbusServerContext
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

PORT_BLOCK = 16  # port n's registers start at 16 * n
REGISTERS = PORT_BLOCK * 11
AMBIENT_C = 25.0
MAINS_V = 228.0
CHARGER_W = 220.0  # a typical 48 V e-bike charger in its constant-current phase
BATTERY_KWH = 0.6
THERMAL_TAU_S = 300.0
DEG_PER_W = 0.06


class PortState(IntEnum):
    IDLE = 0
    CHARGING = 1
    FULL = 2
    FAULT = 3


class Fault(StrEnum):
    OVER_CURRENT = "over_current"  # a modified or shorted battery draws several times the rated current
    OVER_TEMPERATURE = "over_temperature"  # a failing contact heats the socket
    OVERCHARGE = "overcharge"  # the charger never tapers: the battery is pushed beyond its full point
    STUCK_ON = "stuck_on"  # the relay welds closed: the port stays powered whatever the pile decides


@dataclass(slots=True)
class ChargingPort:
    plugged: bool = False
    soc: float = 0.2  # the battery's state of charge, 0..1
    relay: bool = False
    energy_kwh: float = 0.0
    temperature_c: float = AMBIENT_C
    power_w: float = 0.0
    faults: set[Fault] = field(default_factory=set)
    enabled: bool = True  # the pile's switch for the port (a coil): off opens the relay
    power_limit_w: int = 0  # a holding register the operator may set; 0: no limit

    def plug_in(self, soc: float = 0.2) -> None:
        self.plugged, self.soc, self.relay = True, soc, self.enabled

    def switch(self, on: bool) -> None:
        """The pile's own relay control: a welded relay (STUCK_ON) stays closed whatever it is told."""
        self.enabled = on
        if Fault.STUCK_ON not in self.faults:
            self.relay = on and self.plugged and self.soc < 0.999

    def unplug(self) -> None:
        self.plugged = False
        self.relay = Fault.STUCK_ON in self.faults

    @property
    def charging(self) -> bool:
        return self.relay and self.power_w > 5.0

    @property
    def state(self) -> PortState:
        if self.faults - {Fault.STUCK_ON}:
            return PortState.FAULT
        if self.charging:
            return PortState.CHARGING
        return PortState.FULL if self.plugged and self.soc >= 0.999 else PortState.IDLE

    def _draw_w(self) -> float:
        if not (self.relay and self.plugged):
            return 0.0
        if Fault.OVER_CURRENT in self.faults:
            return CHARGER_W * 6
        if Fault.OVERCHARGE in self.faults:
            return CHARGER_W
        rated = min(CHARGER_W, self.power_limit_w) if self.power_limit_w else CHARGER_W
        if self.soc < 0.8:
            return rated
        return max(0.0, rated * (1.0 - self.soc) / 0.2)  # constant voltage: the current tapers to zero

    def advance(self, dt: float) -> None:
        self.power_w = self._draw_w()
        kwh = self.power_w * dt / 3_600_000
        self.energy_kwh += kwh
        self.soc = min(1.0, self.soc + kwh / BATTERY_KWH)
        target = AMBIENT_C + DEG_PER_W * self.power_w + (60.0 if Fault.OVER_TEMPERATURE in self.faults else 0.0)
        self.temperature_c += (target - self.temperature_c) * min(1.0, dt / THERMAL_TAU_S)
        if self.plugged and self.power_w < 2.0 and self.soc >= 0.999 and Fault.STUCK_ON not in self.faults:
            self.relay = False  # full: a good pile cuts the power

    def registers(self, rng: random.Random) -> list[int]:
        volts = MAINS_V + rng.uniform(-1.5, 1.5) if self.relay else 0.0
        amps = self.power_w / volts if volts else 0.0
        energy = round(self.energy_kwh * 100)
        status = int(self.relay) | int(self.charging) << 1
        temperature = round(self.temperature_c * 10) & 0xFFFF
        words = [round(volts * 10), round(amps * 100), round(self.power_w), energy >> 16, energy & 0xFFFF]
        return [*words, temperature, status, int(self.state), self.power_limit_w] + [0] * (PORT_BLOCK - 9)


@dataclass(slots=True)
class ChargingPile:
    ports: list[ChargingPort] = field(default_factory=lambda: [ChargingPort() for _ in range(10)])
    arc_fault: bool = False
    door_open: bool = False
    smoke: bool = False
    refuse: bool = False  # answer every read with a Modbus exception (device failure)
    seed: int = 0
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def advance(self, seconds: float, step: float = 5.0) -> None:
        while seconds > 0:
            dt = min(step, seconds)
            for port in self.ports:
                port.advance(dt)
            seconds -= dt

    def registers(self) -> list[int]:
        total = round(sum(p.power_w for p in self.ports))
        flags = int(self.arc_fault) | int(self.door_open) << 1 | int(self.smoke) << 2
        head = [total >> 16, total & 0xFFFF, flags] + [0] * (PORT_BLOCK - 3)
        return head + [w for port in self.ports for w in port.registers(self._rng)]


COIL_CODES = (1, 5, 15)  # read coils, write one, write several: coil n - 1 switches port n on or off
DISCRETE_CODES = (2,)  # discrete input 0 arc fault, 1 door open, 2 smoke
HOLDING_CODES = (3, 6, 16)  # writable: each port block's +8, its power limit in W (0: none)
LIMIT_OFFSET = 8


class PileContext(ModbusBaseDeviceContext):
    """Serves one pile's coils, discrete inputs and holding registers; time advances on each request,
    and each one is counted."""

    def __init__(self, pile: ChargingPile, speed: float, counts: Counter[int], unit: int) -> None:
        self.pile, self.speed, self._counts, self._unit = pile, speed, counts, unit
        self._last = time.monotonic()

    def getValues(self, func_code: int, address: int, count: int = 1) -> list[int] | list[bool] | ExcCodes:  # noqa: N802
        self._counts[self._unit] += 1
        now = time.monotonic()
        self.pile.advance((now - self._last) * self.speed)
        self._last = now
        if self.pile.refuse:
            return ExcCodes.DEVICE_FAILURE
        pile = self.pile
        if func_code in COIL_CODES:
            values: list[int] | list[bool] = [p.enabled for p in pile.ports]
        elif func_code in DISCRETE_CODES:
            values = [pile.arc_fault, pile.door_open, pile.smoke]
        elif func_code in HOLDING_CODES:
            values = pile.registers()
        else:
            return ExcCodes.ILLEGAL_FUNCTION
        if address + count > len(values):
            return ExcCodes.ILLEGAL_ADDRESS
        return values[address : address + count]

    def setValues(self, func_code: int, address: int, values: list[int] | list[bool]) -> ExcCodes | None:  # noqa: N802
        if self.pile.refuse:
            return ExcCodes.DEVICE_FAILURE
        ports = self.pile.ports
        if func_code in COIL_CODES and address + len(values) <= len(ports):
            for i, v in enumerate(values):
                ports[address + i].switch(bool(v))
            return None
        if func_code in HOLDING_CODES:
            blocks = [divmod(address + i, PORT_BLOCK) for i in range(len(values))]
            if all(offset == LIMIT_OFFSET and 1 <= block <= len(ports) for block, offset in blocks):
                for (block, _), v in zip(blocks, values, strict=True):
                    ports[block - 1].power_limit_w = int(v)
                return None
            return ExcCodes.ILLEGAL_ADDRESS
        return ExcCodes.ILLEGAL_FUNCTION


class PileServer:
    """Charging piles answering on one TCP port or one serial line, by unit id.

    `requests` counts the reads each unit served; a unit taken off with `silence` stops answering,
    as a pile whose RS-485 transceiver died."""

    def __init__(self, piles: dict[int, ChargingPile], speed: float = 1.0) -> None:
        self.piles = piles
        self.speed = speed
        self.requests: Counter[int] = Counter()
        self._contexts = {unit: PileContext(p, speed, self.requests, unit) for unit, p in piles.items()}
        self.context = ModbusServerContext(devices=dict(self._contexts), single=False)  # type: ignore[no-untyped-call]
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    def silence(self, unit: int) -> None:
        del self.context[unit]  # type: ignore[no-untyped-call]

    def resume(self, unit: int) -> None:
        self.context[unit] = self._contexts[unit]

    async def start_tcp(self, host: str, port: int) -> None:
        self._server = ModbusTcpServer(self.context, address=(host, port), ignore_missing_devices=True)
        await self._server.serve_forever(background=True)

    async def start_rtu(self, device: str, baudrate: int = 115_200) -> None:
        self._server = ModbusSerialServer(
            self.context, framer=FramerType.RTU, port=device, baudrate=baudrate, ignore_missing_devices=True
        )
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
        await asyncio.sleep(0)


def plugged_piles(units: Sequence[int], ports_in_use: int = 4, seed: int = 0) -> dict[int, ChargingPile]:
    """Piles with the first `ports_in_use` ports charging batteries at different states of charge."""
    piles = {}
    for unit in units:
        pile = ChargingPile(seed=seed + unit)
        for i, port in enumerate(pile.ports[:ports_in_use]):
            port.plug_in(soc=0.1 + 0.2 * i)
        piles[unit] = pile
    return piles


async def serve_tcp(host: str, port: int, units: int, stop: asyncio.Event | None = None) -> None:
    """Serve `units` plugged-in piles on one TCP port until `stop` is set (or forever)."""
    server = PileServer(plugged_piles(range(1, units + 1)))
    await server.start_tcp(host, port)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await server.stop()


if __name__ == "__main__":  # python -m gridedge.simulators.charging_pile PORT [UNITS]: a pile fleet for benchmarks
    import sys

    asyncio.run(serve_tcp("127.0.0.1", int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 10))
