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
    profiler: cProfile.Profile | None = None  # `profile`: on during the measured slices only

    def begin(self) -> tuple[float, float]:
        if self.profiler is not None:
            self.profiler.enable()
        return time.perf_counter(), time.process_time()

    def add(self, polls: int, started: float, cpu_started: float) -> None:
        if self.profiler is not None:
            self.profiler.disable()
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
    start_readings = readings
    started, cpu_started = side.begin()
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
        started, cpu_started = side.begin()
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
IDLE = "waiting for the answer (epoll, idle)"
_GROUPS = [  # (text in the function's file or name, where): the first that matches
    ("registers.py", "decoding: registers to checked readings (ours)"),
    ("devices/decode.py", "decoding: registers to checked readings (ours)"),
    ("<string>", "decoding: registers to checked readings (ours)"),  # Reading's generated __init__
    ("convert_from_registers", "decoding: convert_from_registers, bits, scale (raw with decode)"),
    ("scenarios/modbus.py decode", "decoding: convert_from_registers, bits, scale (raw with decode)"),
    ("scenarios/modbus.py", "the benchmark's own loop"),
    ("gridedge/", "the driver: poll loop, timeout per request, counters, delivery"),
    ("pymodbus/", "pymodbus: request, framing, transaction, answer PDU"),
    ("'send' of '_socket", "socket send (loopback: the kernel's TCP path, and the core handed to the simulator)"),
    ("'recv", "socket recv"),
    ("'poll' of 'select.epoll'", IDLE),
    ("asyncio/", "asyncio: event loop, futures, timers"),
    ("selectors.py", "asyncio: event loop, futures, timers"),
]
Key = tuple[str, int, str]


def _where(key: Key, stats: dict[Key, tuple[int, int, float, float, dict[Key, tuple[float, ...]]]]) -> dict[str, float]:
    """The function's own time by where it goes; a builtin's (list.append, struct.unpack...) by its callers'."""
    text = f"{key[0]} {key[2]}"
    own = stats[key][2]
    group = next((what for match, what in _GROUPS if match in text), None)
    if group is not None or key[0] != "~" or not stats[key][4]:
        return {group or "other": own}
    callers = stats[key][4]
    edges = sum(edge[2] for edge in callers.values()) or 1.0
    shares: dict[str, float] = {}
    for caller, edge in callers.items():
        caller_text = f"{caller[0]} {caller[2]}"
        what = next((what for match, what in _GROUPS if match in caller_text), "other")
        shares[what] = shares.get(what, 0.0) + own * edge[2] / edges
    return shares


def profile(seconds: float = 5.0) -> list[Path]:
    """Profiles of the three sides' measured slices (cProfile, wall clock), grouped by where the time
    goes, the wait for the simulator's answer apart: bench/profiles/modbus-*.txt."""
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
            asyncio.run(side_run(port, plain))  # unprofiled: the rate and CPU per poll to quote
            profiled = Side(profiler=cProfile.Profile())
            asyncio.run(side_run(port, profiled))
            stats = pstats.Stats(profiled.profiler)
            groups: dict[str, float] = {}
            for key in stats.stats:  # type: ignore[attr-defined]
                for what, spent in _where(key, stats.stats).items():  # type: ignore[attr-defined]
                    groups[what] = groups.get(what, 0.0) + spent
            idle = groups.pop(IDLE, 0.0)
            busy = sum(groups.values())
            out = io.StringIO()
            out.write(
                f"# modbus side `{name}`: python -m bench.scenarios.modbus --profile ({seconds:.0f} s a side)\n"
                f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
                f"load average {os.getloadavg()[0]:.1f} at the end (other work on the machine: see the load)\n"
                f"# unprofiled: {plain.points_per_s:,.0f} points/s, {plain.cpu_us_per_poll:.0f} us CPU per poll "
                f"(this process; a poll = 2 reads, 84 points)\n"
                f"# profiled: {1e6 * busy / profiled.polls:.0f} us busy and {1e6 * idle / profiled.polls:.0f} us "
                "waiting for answers per poll (wall clock; cProfile's own cost included)\n\n"
                "share of the busy time  where\n"
            )
            for what, spent in sorted(groups.items(), key=lambda kv: -kv[1]):
                out.write(f"{100 * spent / busy:20.1f} %  {what}\n")
            out.write("\n")
            stats.stream = out  # type: ignore[attr-defined]
            stats.sort_stats("tottime").print_stats(30)
            path = PROFILES / f"modbus-{name}.txt"
            path.parent.mkdir(exist_ok=True)
            path.write_text(out.getvalue().replace(str(Path(sys.prefix)), "").replace(str(Path.cwd()), ""))
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
