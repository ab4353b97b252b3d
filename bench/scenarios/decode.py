"""Scenario `decode`: the pure decoders alone, on one core.

- json: smoke-alarm vendor messages (7 readings each) through `decode_json`, varied so no cache helps.
- modbus: the two reads of a 10-port charging pile (84 readings) through `decode_registers`.
- binary: LoRaWAN uplinks of a smoke detector in ChirpStack v4's JSON (base64 frame, routed by fPort,
  bits, value maps and computed points: the Milesight GS524N profile, 11 readings each) through `decode_json`.
Each side runs for a fixed count of decodes; readings/s is readings produced over wall time.
"""

from __future__ import annotations

import base64
import json
import time

from bench.harness import Measured
from gridedge.devices.decode import compile_profile, decode_json
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.devices.registers import decode_registers, plan_reads
from gridedge.simulators.charging_pile import ChargingPile


def _json_rate(messages: int) -> float:
    compiled = compile_profile(load_profiles([BUILTIN_PROFILES])["generic-smoke-alarm"])
    payloads = [
        json.dumps(
            {
                "dev": f"SA-{i}",
                "ts": 1_700_000_000_000 + i,
                "event": "heartbeat",
                "state": {"smoke": i % 7 == 0, "tamper": False, "battery_pct": i % 100, "low_battery": False},
                "rssi": -(i % 120),
            }
        ).encode()
        for i in range(1000)
    ]
    readings = 0
    started = time.perf_counter()
    for i in range(messages):
        readings += len(decode_json(payloads[i % 1000], compiled, "SA-1", 0.0).readings)
    return readings / (time.perf_counter() - started)


def _modbus_rate(polls: int) -> float:
    plan = plan_reads(load_profiles([BUILTIN_PROFILES])["ebike-charging-pile-10"])
    pile = ChargingPile()
    for port in pile.ports[:6]:
        port.plug_in(0.4)
    pile.advance(60)
    regs = pile.registers()
    answers = [regs[r.address : r.address + r.count] for r in plan.reads]
    readings = 0
    started = time.perf_counter()
    for _ in range(polls):
        readings += len(decode_registers(plan, answers, "EP-1", 0.0).readings)
    return readings / (time.perf_counter() - started)


def _binary_rate(messages: int) -> float:
    compiled = compile_profile(load_profiles([BUILTIN_PROFILES])["milesight-gs524n"])
    codes = [1, 2, 4, 5, 7, 10, 11, 14, 15]
    payloads = [
        json.dumps(
            {
                "time": f"2024-05-01T08:{i // 60 % 60:02d}:{i % 60:02d}.5Z",
                "deviceInfo": {"devEui": f"24e124538c{i:06x}"},
                "fPort": 85,
                "data": base64.b64encode(bytes([0x22, 0x10 | codes[i % 9], i % 101, i % 7, 20 + i % 30, 0])).decode(),
                "rxInfo": [{"rssi": -(i % 120), "snr": 9.5}],
            }
        ).encode()
        for i in range(1000)
    ]
    readings = 0
    started = time.perf_counter()
    for i in range(messages):
        readings += len(decode_json(payloads[i % 1000], compiled, "SD-1", 0.0).readings)
    return readings / (time.perf_counter() - started)


def run(quick: bool) -> Measured:
    messages, polls = (20_000, 2_000) if quick else (200_000, 20_000)
    return Measured(
        figures={
            "json_readings_per_s": _json_rate(messages),
            "modbus_readings_per_s": _modbus_rate(polls),
            "binary_readings_per_s": _binary_rate(messages // 2),
        },
        bounds=f"{messages:,} JSON messages x 7 readings; {polls:,} pile polls x 84 readings; "
        f"{messages // 2:,} LoRaWAN uplinks x 11 readings; one core",
        settings={"process": "in-process, pure decoders, one core"},
    )
