"""Scenario `latency`: a reading's own timestamp to the centre storing its grid event, at 10 % and 50 %
of the measured saturation of the same path.

Fleet-simulator messages (gridedge/simulators/fleet.py) go at QoS 1 to a real Mosquitto on loopback
with the shipped broker limits (bench/settings.py); the agent and the centre run as their own
processes, as deployed. First the saturation: a burst of BURST
messages written at full speed, drained when the centre stored the stream's last event. Then two
paced phases at 10 % and 50 % of that rate, PHASE_S seconds each. Latency is the centre's
`received_at` minus the event's `observed_at` (the alarm message's own millisecond timestamp, taken
as the moment it is sent), so it covers both MQTT hops, decode, rules, the outbox's fsync and the
centre's commit. Goal: p99 under 20 ms at 10 %.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench import settings
from bench.harness import Measured
from bench.load import Blaster
from bench.scenarios.e2e import _percentile, _revisions, _wait_for_revisions, _wait_healthy
from bench.scenarios.ingest import MIX, _pairs, _stream, _ts, agent, offer_paced
from gridedge.devtools.broker import MosquittoProcess, free_port


def run(quick: bool) -> Measured:
    burst, seconds = (5_000, 4.0) if quick else (50_000, 15.0)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="gridedge-latency-") as tmp:
        work = Path(tmp)
        broker = MosquittoProcess(free_port(), work, persistence=True)  # the shipped limits
        broker.start()
        http_port = free_port()
        centre_yaml = work / "centre.yaml"
        database = f"sqlite:///{work / 'centre.db'}"
        centre_yaml.write_text(
            yaml.safe_dump({"broker": broker.url, "database": database, "http": {"port": http_port}})
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "gridedge", "center", "--config", str(centre_yaml), "--log-level", "warning"]
        )
        try:
            _wait_healthy(http_port)
            (work / "agent").mkdir()
            with agent(broker.port, work / "agent"):
                stored = len(_wait_for_revisions(work, 1, 30))  # the warm-up's events reached the centre
                messages = _stream(burst, 50_000, seed=5)
                blaster = Blaster(broker.port, "bench-saturation")  # QoS 1, as devices publish
                packets = blaster.packets(_pairs(messages))
                started = time.time()
                blaster.send(packets)
                blaster.close()
                rows = _wait_for_revisions(work, stored + 2 * sum(m.alarm for m in messages), 300)
                saturation = burst / (max(received for _, received in rows[stored:]) - started)
                figures["saturation_messages_per_s"] = saturation  # device messages, as ingest counts
                for share in (10, 50):
                    stored = len(_revisions(work))
                    rate = saturation * share / 100
                    at = time.time() * 1000 + 1500
                    stream = _stream(int(rate * seconds), rate, seed=share, not_before_ms=at)
                    blaster = Blaster(broker.port, "bench-paced")
                    packets = blaster.packets(_pairs(stream))
                    # making the stream can outlast the lead: latencies are taken from when it began
                    late_ms, _ = offer_paced(blaster, packets, _ts(stream[0]), rate)
                    blaster.close()
                    alarms = sum(m.alarm for m in stream)
                    timed = _wait_for_revisions(work, stored + 2 * alarms, 120)[stored:]
                    latencies = [(received - observed) * 1000 - late_ms for observed, received in timed]
                    figures[f"p50_ms_at_{share}pct"] = _percentile(latencies, 50)
                    figures[f"p99_ms_at_{share}pct"] = _percentile(latencies, 99)
                    figures[f"max_ms_at_{share}pct"] = max(latencies)
        finally:
            process.terminate()
            process.wait(timeout=30)
            broker.stop()
    return Measured(
        figures=figures,
        bounds=f"saturation from a burst of {burst:,} messages ({MIX.devices()} devices, agent + centre); "
        f"then {seconds:g} s at 10 % and at 50 % of it",
        notes={"goal": "p99_ms_at_10pct < 20", "reading_ts": "millisecond resolution (adds up to 1 ms)"},
        settings={
            "broker": settings.broker(),
            "device_qos": 1,
            **settings.AGENT,
            "centre_store": settings.CENTRE_SQLITE,
        },
    )
