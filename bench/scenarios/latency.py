"""Scenario `latency`: a reading's own timestamp to the centre storing its event, under background load.

Simulated smoke alarms publish BACKGROUND readings/s (7 readings per vendor message, mostly
heartbeats) to a real Mosquitto on loopback; the agent and the centre run as their own processes (as
deployed), with the shipped broker settings (`set_tcp_nodelay true`, gateway/broker.py) and Nagle off
in the clients. Every CHANGE_EVERY-th message raises or clears an alarm, so each timed event rides
on the background load. Latency is the centre's `received_at` minus the event's `observed_at` (the
reading's own millisecond timestamp), so it covers decode, rules, the outbox's fsync, both MQTT hops
and the centre's commit. Goal: p99 under 20 ms.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.harness import Measured
from bench.scenarios.e2e import _percentile, _wait_for_revisions, gateway_and_centre

BACKGROUND = 1000
"""Readings per second."""
READINGS_PER_MESSAGE = 7
CHANGE_EVERY = 5


def run(quick: bool) -> Measured:
    seconds = 5 if quick else 30
    rate = BACKGROUND / READINGS_PER_MESSAGE
    with tempfile.TemporaryDirectory(prefix="gridedge-latency-") as tmp, gateway_and_centre(Path(tmp)) as publisher:
        before = 2
        changes = 0
        t0 = time.monotonic()
        for i in range(int(rate * seconds)):
            time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            changes += publisher.send(i, CHANGE_EVERY)
        timed = _wait_for_revisions(Path(tmp), before + changes, 60)[before:]
    latencies = [(received - observed) * 1000 for observed, received in timed]
    return Measured(
        figures={
            "latency_p50_ms": _percentile(latencies, 50),
            "latency_p99_ms": _percentile(latencies, 99),
            "latency_max_ms": max(latencies),
            "events_timed": float(len(latencies)),
        },
        bounds=f"{BACKGROUND:,} readings/s for {seconds} s; an alarm change every {CHANGE_EVERY} messages",
        notes={"goal": "latency_p99_ms < 20", "reading_ts": "millisecond resolution (adds up to 1 ms)"},
    )
