"""Scenario `modbus`: points/s the Modbus driver polls from simulated piles over TCP, and the same
registers read by plain pymodbus in the same run (`ratio_to_raw_pymodbus` = ours / raw).

PILES 10-port piles answer on one TCP port from a separate process (so the figure is the gateway's
cost, not the simulator's). Ours: one bus coordinator polling every pile back to back (poll interval
1 ms), decoding each answer into 84 readings handed to a sink that only counts them (no pipeline, no
rules). Raw: a pymodbus client issuing the same two reads per pile in the same order, one request at
a time as ours, decoding nothing. Raw with decoding (`ratio_to_raw_pymodbus_with_decode`): the same,
then each of the 84 points turned into a value with pymodbus's own `convert_from_registers` (bits,
enum names, scale and offset applied as the profile says, nothing range-checked). The three sides take
turns, ROUNDS slices each, SECONDS in all per side, so a change in the machine's load in between
touches all of them. Each side's CPU time per poll (its own process; the simulator's not counted)
says where the gap is, and holds better than the rates on a loaded machine.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient

from bench.harness import Measured
from gridedge.devices.binding import bind
from gridedge.devices.buses import ModbusTcpBus
from gridedge.devices.drivers.modbus import ModbusBusDriver, polled_devices
from gridedge.devices.inventory import Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, PointType, load_profiles
from gridedge.devices.registers import ModbusPlan, plan_reads
from gridedge.devtools.broker import free_port
from gridedge.edge.clock import SystemClock
from gridedge.edge.reading import Reading

PILES = 10
POINTS = 84
PROFILE = "ebike-charging-pile-10"
ROUNDS = 5


@dataclass
class Side:
    """What one side did in its measured slices, summed."""

    polls: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0

    def add(self, polls: int, started: float, cpu_started: float) -> None:
        self.polls += polls
        self.seconds += time.perf_counter() - started
        self.cpu_s += time.process_time() - cpu_started

    @property
    def points_per_s(self) -> float:
        return self.polls * POINTS / self.seconds

    @property
    def cpu_us_per_poll(self) -> float:
        return 1e6 * self.cpu_s / self.polls


async def _ours(port: int, seconds: float, side: Side) -> None:
    inventory = Inventory.model_validate(
        {
            "devices": [
                {
                    "id": f"EP-{u}",
                    "profile": PROFILE,
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
    start_readings, started, cpu_started = readings, time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    side.add((readings - start_readings) // POINTS, started, cpu_started)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


Values = list[tuple[str, str, object, float]]


def pymodbus_decoder(plan: ModbusPlan) -> Callable[[str, Sequence[list[int]], float], Values]:
    """What a gateway on plain pymodbus would write: each point through `convert_from_registers`, then
    its bits, enum name or scale and offset; (device, point, value, time) per point, nothing checked."""
    convert, kinds = AsyncModbusTcpClient.convert_from_registers, AsyncModbusTcpClient.DATATYPE
    points = []
    for s in plan.slots:
        reg, p = s.register, s.point
        assert reg.byte_order == "big", "convert_from_registers knows word order only"
        mask = (1 << reg.bits) - 1
        points.append((p.name, s.read, s.offset, s.words, kinds[reg.data_type.name], reg.word_order, reg.bit, mask, p))

    def decode(device: str, answers: Sequence[list[int]], ts: float) -> Values:
        values: Values = []
        for name, read, at, words, kind, order, bit, mask, p in points:
            value: object = convert(answers[read][at : at + words], kind, word_order=order)
            if bit is not None:
                value = (value >> bit) & mask  # type: ignore[operator]
                value = bool(value) if p.type is PointType.BOOL else value
            elif p.enum is not None:
                value = p.enum.get(value)  # type: ignore[call-overload]
            else:
                value = value * p.scale + p.offset  # type: ignore[operator]
            values.append((device, name, value, ts))
        return values

    return decode


async def _raw(port: int, seconds: float, side: Side, decoding: bool) -> None:
    plan = plan_reads(load_profiles([BUILTIN_PROFILES])[PROFILE])
    decode = pymodbus_decoder(plan)
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    await client.connect()
    polls = points = 0
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        while time.perf_counter() - started < seconds:
            for unit in range(1, PILES + 1):
                answers = [
                    (await client.read_holding_registers(r.address, count=r.count, device_id=unit)).registers
                    for r in plan.reads
                ]
                if decoding:
                    points += len(decode(f"EP-{unit}", answers, time.time()))
                polls += 1
        side.add(polls, started, cpu_started)
        assert not decoding or points == polls * POINTS
    finally:
        client.close()


def run(quick: bool) -> Measured:
    seconds = 3.0 if quick else 15.0
    ours, raw, raw_decoding = Side(), Side(), Side()
    sides: list[Callable[[int, float], Coroutine[None, None, None]]] = [
        lambda port, s: _ours(port, s, ours),
        lambda port, s: _raw(port, s, raw, decoding=False),
        lambda port, s: _raw(port, s, raw_decoding, decoding=True),
    ]
    port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "gridedge.simulators.charging_pile", str(port), str(PILES)])
    try:
        time.sleep(1.5)
        for _ in range(ROUNDS):
            for side in sides:
                asyncio.run(side(port, seconds / ROUNDS))
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    return Measured(
        figures={
            "points_per_s": ours.points_per_s,
            "raw_pymodbus_points_per_s": raw.points_per_s,
            "ratio_to_raw_pymodbus": ours.points_per_s / raw.points_per_s,
            "raw_pymodbus_decoding_points_per_s": raw_decoding.points_per_s,
            "ratio_to_raw_pymodbus_with_decode": ours.points_per_s / raw_decoding.points_per_s,
            "cpu_us_per_poll": ours.cpu_us_per_poll,
            "raw_pymodbus_cpu_us_per_poll": raw.cpu_us_per_poll,
            "raw_pymodbus_decoding_cpu_us_per_poll": raw_decoding.cpu_us_per_poll,
        },
        bounds=(
            f"{PILES} piles x {POINTS} points over Modbus TCP on loopback; {seconds:.0f} s per side "
            f"in {ROUNDS} alternating slices"
        ),
        settings={
            "transport": "Modbus TCP on loopback, charging-pile simulator (pymodbus server) in its own process",
            "requests": "two reads per pile (registers 0-119 and 128-167), one request at a time, on every side",
            "sink": "ours: readings counted, no pipeline; raw: nothing (raw with decode: a list of values)",
        },
    )


PROFILES = Path(__file__).parent.parent / "profiles"
_GROUPS = [  # (where, what): the first whose text is in the function's file or name
    ("registers.py", "decoding: registers to checked readings (ours)"),
    ("devices/decode.py", "decoding: registers to checked readings (ours)"),
    ("<string>", "decoding: registers to checked readings (ours)"),  # Reading's generated __init__
    ("convert_from_registers", "decoding: convert_from_registers, bits, scale (raw with decode)"),
    ("scenarios/modbus.py", "decoding: convert_from_registers, bits, scale (raw with decode)"),
    ("drivers/modbus.py", "the driver: poll loop, timeout per request, counters, sink"),
    ("gridedge/", "the driver: poll loop, timeout per request, counters, sink"),
    ("pymodbus/", "pymodbus: request, framing, transaction, answer PDU"),
    ("'send' of '_socket", "socket send (loopback: runs the kernel's TCP path)"),
    ("'recv", "socket recv"),
    ("asyncio/", "asyncio: event loop, futures, timers"),
    ("select", "asyncio: event loop, futures, timers"),
    ("{", "builtins called from all of the above"),
]


def _group(where: str) -> str:
    return next((what for text, what in _GROUPS if text in where), "other")


def profile(seconds: float = 5.0) -> list[Path]:
    """CPU profiles of the three sides (cProfile on the process's CPU clock, so time the kernel gives
    the simulator is not counted), grouped by where the time goes: bench/profiles/modbus-*.txt."""
    runs: dict[str, Callable[[int, Side], Coroutine[None, None, None]]] = {
        "ours": lambda port, side: _ours(port, seconds, side),
        "raw": lambda port, side: _raw(port, seconds, side, decoding=False),
        "raw-decoding": lambda port, side: _raw(port, seconds, side, decoding=True),
    }
    port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "gridedge.simulators.charging_pile", str(port), str(PILES)])
    written = []
    try:
        time.sleep(1.5)
        for name, side_run in runs.items():
            plain = Side()
            asyncio.run(side_run(port, plain))  # unprofiled: the CPU per poll to quote
            profiled, profiler = Side(), cProfile.Profile(time.process_time)
            profiler.enable()
            asyncio.run(side_run(port, profiled))
            profiler.disable()
            stats = pstats.Stats(profiler)
            total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
            groups: dict[str, float] = {}
            for (file, _line, func), row in stats.stats.items():  # type: ignore[attr-defined]
                groups[_group(f"{file} {func}")] = groups.get(_group(f"{file} {func}"), 0.0) + row[2]
            out = io.StringIO()
            out.write(
                f"# modbus side `{name}`: python -m bench.scenarios.modbus --profile ({seconds:.0f} s a side)\n"
                f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
                f"load average {os.getloadavg()[0]:.1f} at the end\n"
                f"# unprofiled: {plain.points_per_s:,.0f} points/s, {plain.cpu_us_per_poll:.0f} us CPU per poll "
                f"(this process; a poll = 2 reads, 84 points)\n"
                f"# profiled: {profiled.cpu_us_per_poll:.0f} us CPU per poll (cProfile's own cost included)\n\n"
                "share of CPU  where\n"
            )
            for what, cpu in sorted(groups.items(), key=lambda kv: -kv[1]):
                out.write(f"{100 * cpu / total:10.1f} %  {what}\n")
            out.write("\n")
            stats.stream = out  # type: ignore[attr-defined]
            stats.sort_stats("tottime").print_stats(25)
            path = PROFILES / f"modbus-{name}.txt"
            path.parent.mkdir(exist_ok=True)
            text = out.getvalue().replace(str(Path(sys.prefix)), "").replace(str(Path.cwd()), "")
            path.write_text(text)
            written.append(path)
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    return written


if __name__ == "__main__":
    if sys.argv[1:] != ["--profile"]:
        sys.exit("usage: python -m bench.scenarios.modbus --profile")
    for written_path in profile():
        print(written_path)
