"""Scenario `rules`: readings/s through the rules engine alone, on one core, with the built-in packs.

The inventory is 10,000 devices in 500 sites: 7,000 smoke alarms (a 7-reading message a minute),
2,000 ten-port charging piles (74 readings every 5 s) and 1,000 IR shopfront sensors (3 readings
every 30 s), so the stream has the mix of a real neighbourhood: mostly charging-pile points, many of
them matched by several rules with windows. One port in 400 heats up and one alarm in 500 goes off,
so incidents open, correlate and resolve while it runs. Each simulated second's readings are built
first (untimed) and then fed in batches of 256 with a tick per second (timed).
- readings_per_s: readings processed / seconds spent in process(), tick() and changes() (the durable
  state the agent commits with each step); the process is pinned to one core where the OS allows it.
  Bounded by SECONDS simulated seconds.
- state_records: records changes() handed over for the outbox's state table (per simulated second in
  `state_records_per_s`).
- bytes_per_rule: memory the compiled built-in rules take (tracemalloc), divided by their count.
- state_bytes_per_device: the engine's state (registration, tracks, windows) after every device has
  reported once, per device.
"""

from __future__ import annotations

import os
import random
import time
import tracemalloc
from collections.abc import Iterator

import psutil

from bench.harness import Measured
from gridedge.edge.clock import FakeClock
from gridedge.edge.reading import Reading
from gridedge.rules.engine import RuleEngine
from gridedge.rules.model import BUILTIN_PACKS, RulePack, load_rule_pack, merge_packs

ALARMS, PILES, SENSORS = 7_000, 2_000, 1_000
SITES = 500
PORTS = 10
BATCH = 256
START = 1_800_000_000.0  # a Friday afternoon in Beijing: the shopfront schedule is active


def _pack() -> RulePack:
    return merge_packs([load_rule_pack(p) for p in sorted(BUILTIN_PACKS.glob("*.yaml"))])


def _register(engine: RuleEngine) -> None:
    for i in range(ALARMS):
        engine.register_device(f"SA-{i:05d}", {"site": f"Site {i % SITES}"}, 150.0, ["smoke", "tamper"])
    for i in range(PILES):
        engine.register_device(
            f"P-{i:05d}", {"site": f"Site {i % SITES}"}, 30.0, ["charging_pile.temperature", "charging_pile.current"]
        )
    for i in range(SENSORS):
        engine.register_device(f"IR-{i:05d}", {"site": f"Site {i % SITES}"}, 90.0, ["dwell", "presence"])


def _alarm(i: int, ts: float, rng: random.Random) -> Iterator[Reading]:
    d = f"SA-{i:05d}"
    smoke = i % 500 == 7 and rng.random() < 0.5
    yield Reading(d, "smoke", smoke, ts, None, "smoke")
    yield Reading(d, "tamper", False, ts, None, "tamper")
    yield Reading(d, "low_battery", False, ts, None, "low_battery")
    yield Reading(d, "battery", 90.0, ts, "%", "battery")
    yield Reading(d, "self_test", False, ts, None, "self_test")
    yield Reading(d, "message", "heartbeat", ts, None, "heartbeat")
    yield Reading(d, "rssi", -70, ts, "dBm", "signal")


def _pile(i: int, ts: float, second: int, rng: random.Random) -> Iterator[Reading]:
    d = f"P-{i:05d}"
    yield Reading(d, "total_power", 900.0, ts, "W", "charging_pile.total_power")
    for flag in ("arc_fault", "door", "smoke"):
        yield Reading(d, flag, False, ts, None, flag if flag == "smoke" else f"charging_pile.{flag}")
    for n in range(1, PORTS + 1):
        p = f"port{n}"
        hot = (i * PORTS + n) % 400 == 0
        temp = 30.0 + rng.random() * 5 + (min(second, 60) if hot else 0)
        yield Reading(d, f"{p}.voltage", 230.0, ts, "V", "charging_pile.voltage")
        yield Reading(d, f"{p}.current", 2.0 + rng.random(), ts, "A", "charging_pile.current")
        yield Reading(d, f"{p}.power", 480.0, ts, "W", "charging_pile.power")
        yield Reading(d, f"{p}.energy", 1.0 + second / 3600, ts, "kWh", "charging_pile.energy")
        yield Reading(d, f"{p}.temperature", temp, ts, "degC", "charging_pile.temperature")
        yield Reading(d, f"{p}.relay", True, ts, None, "charging_pile.relay")
        yield Reading(d, f"{p}.charging", True, ts, None, "charging_pile.charging")


def _sensor(i: int, ts: float, second: int) -> Iterator[Reading]:
    d = f"IR-{i:05d}"
    dwell = float(second * 10) if i % 100 == 0 else 3.0
    yield Reading(d, "presence", dwell > 3, ts, None, "presence")
    yield Reading(d, "dwell", dwell, ts, "s", "dwell")
    yield Reading(d, "beam_breaks", 100 + second, ts, None, "beam_breaks")


def _second(second: int, rng: random.Random) -> list[Reading]:
    """Every reading due in this simulated second, devices staggered over their periods."""
    ts = START + second
    out: list[Reading] = []
    for i in range(second % 60, ALARMS, 60):
        out.extend(_alarm(i, ts, rng))
    for i in range(second % 5, PILES, 5):
        out.extend(_pile(i, ts, second, rng))
    for i in range(second % 30, SENSORS, 30):
        out.extend(_sensor(i, ts, second))
    return out


def _pin_to_one_core() -> str:
    """The least busy of the cores we may use, so other work on the machine disturbs the figure least."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
        load = psutil.cpu_percent(interval=0.5, percpu=True)
        cpu = min(allowed, key=lambda c: load[c] if c < len(load) else 100.0)
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        return "not pinned"
    return f"pinned to cpu {cpu} ({load[cpu]:.0f}% busy before the run)"


def _every_device_once(rng: random.Random) -> list[Reading]:
    out: list[Reading] = []
    for i in range(ALARMS):
        out.extend(_alarm(i, START, rng))
    for i in range(PILES):
        out.extend(_pile(i, START, 0, rng))
    for i in range(SENSORS):
        out.extend(_sensor(i, START, 0))
    return out


def _memory(pack: RulePack) -> tuple[float, float]:
    """Traced allocations of the compiled rules, and of the state after every device reported once."""
    stream = _every_device_once(random.Random(1))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        engine = RuleEngine(pack, FakeClock(START))
        rules = tracemalloc.get_traced_memory()[0] - before
        _register(engine)
        for i in range(0, len(stream), BATCH):
            engine.process(stream[i : i + BATCH])
        state = tracemalloc.get_traced_memory()[0] - before - rules
    finally:
        tracemalloc.stop()
    return rules / len(engine.rules), state / (ALARMS + PILES + SENSORS)


def run(quick: bool) -> Measured:
    seconds = 20 if quick else 120
    pinned = _pin_to_one_core()
    pack = _pack()
    bytes_per_rule, state_per_device = _memory(pack)
    clock = FakeClock(START)
    engine = RuleEngine(pack, clock)
    _register(engine)
    rng = random.Random(7)
    readings = alerts = records = 0
    busy = 0.0
    for s in range(seconds):
        stream = _second(s, rng)
        clock.t = START + s
        started = time.perf_counter()
        for i in range(0, len(stream), BATCH):
            alerts += len(engine.process(stream[i : i + BATCH]))
            records += len(engine.changes())
        alerts += len(engine.tick())
        records += len(engine.changes())
        busy += time.perf_counter() - started
        readings += len(stream)
    counters = ", ".join(f"{k} {v}" for k, v in sorted(engine.counters.items()))
    return Measured(
        figures={
            "readings_per_s": round(readings / busy),
            "bytes_per_rule": round(bytes_per_rule),
            "state_bytes_per_device": round(state_per_device),
            "readings": readings,
            "revisions": alerts,
            "state_records": records,
            "state_records_per_s": round(records / seconds),
        },
        bounds=f"{seconds} simulated seconds of 10,000 devices, {len(engine.rules)} built-in rules",
        notes={"core": pinned, "engine_counters": counters or "none"},
        settings={"process": "in-process rule engine on a fake clock, one core", "packs": "built-in"},
    )
