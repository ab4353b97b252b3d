"""Scenario `e2e`: simulated smoke alarms -> Mosquitto -> agent -> Mosquitto -> centre store.

Agent and centre run as their own processes (as deployed), on a real Mosquitto on loopback.
- burst: MESSAGES vendor messages (7 readings each) offered at full speed from DEVICES alarms, one
  in TOGGLE_EVERY of them an alarm raised or cleared; readings/s is readings offered divided by the
  time from the first publish to the centre storing the last event (events trail every reading
  before them, so the last event stored means every reading was decided on).
- paced: PACED_RATE messages/s for PACED_S seconds with an alarm change every 10th message; latency
  is the centre's store time minus the reading's own timestamp, per event revision.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, text

from bench import settings
from bench.harness import Measured
from gridedge.devtools.broker import MosquittoProcess, free_port

DEVICES = 200
TOGGLE_EVERY = 50


def _alarm_message(key: str, smoke: bool, event: str) -> bytes:
    doc = {
        "dev": key,
        "ts": int(time.time() * 1000),
        "event": event,
        "state": {"smoke": smoke, "tamper": False, "battery_pct": 90, "low_battery": False, "self_test": False},
        "rssi": -70,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


class Publisher:
    """paho with a bounded window of unacknowledged QoS 1 messages (far below its 65,535 packet ids)."""

    def __init__(self, port: int, window: int = 2000) -> None:
        self._window = threading.BoundedSemaphore(window)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
        self.client.max_inflight_messages_set(window)
        self.client.on_publish = lambda *_: self._window.release()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.states: dict[str, bool] = {}

    def send(self, i: int, toggle_every: int) -> bool:
        """Message number i: a heartbeat, or every `toggle_every`th an alarm change. True for a change."""
        key = f"SA-{i % DEVICES:04d}"
        toggle = i % toggle_every == toggle_every - 1
        if toggle:
            self.states[key] = not self.states.get(key, False)
        self.publish(key, "alarm" if toggle else "heartbeat")
        return toggle

    def publish(self, key: str, event: str) -> None:
        self._window.acquire()
        payload = _alarm_message(key, self.states.get(key, False), event)
        self.client.publish(f"bridge/smoke/{key}/up", payload, qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def agent_settings(gateway_id: str, broker: str, state_dir: Path, devices: Sequence[object]) -> dict[str, object]:
    """A benchmark gateway's settings: one grid cell, one broker for devices and uplink."""
    levels = (("district", "D01"), ("street", "S01"), ("community", "C01"), ("grid", "G01"))
    return {
        "gateway": {"id": gateway_id, "grid": {lv: {"code": c} for lv, c in levels}, "location": {"site": "bench"}},
        "uplink": {"broker": broker},
        "southbound": {"mqtt": broker},
        "state_dir": str(state_dir),
        "inventory": {"devices": list(devices)},
    }


def _configs(work: Path, broker: str, http_port: int) -> tuple[Path, Path]:
    devices = [
        {
            "id": f"SA-{i:04d}",
            "profile": "generic-smoke-alarm",
            "location": {"site": f"Block {i}"},
            "liveness": {"heartbeat_interval_s": 3600, "offline_after_s": 7200},
        }
        for i in range(DEVICES)
    ]
    agent = agent_settings("gw-bench", broker, work / "agent", devices)
    centre = {"broker": broker, "database": f"sqlite:///{work / 'centre.db'}", "http": {"port": http_port}}
    (work / "agent.yaml").write_text(yaml.safe_dump(agent))
    (work / "centre.yaml").write_text(yaml.safe_dump(centre))
    return work / "agent.yaml", work / "centre.yaml"


def _revisions(work: Path) -> list[tuple[float, float]]:
    engine = create_engine(f"sqlite:///{work / 'centre.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT observed_at, received_at FROM event_revisions ORDER BY id")).all()
    engine.dispose()
    return [(float(o), float(r)) for o, r in rows]


def _wait_for_revisions(work: Path, count: int, timeout: float) -> list[tuple[float, float]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _revisions(work)
        if len(rows) >= count:
            return rows
        time.sleep(0.2)
    raise TimeoutError(f"centre stored {len(_revisions(work))} of {count} event revisions in {timeout} s")


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


@contextmanager
def gateway_and_centre(work: Path) -> Iterator[Publisher]:
    """Mosquitto, the centre and the agent, each its own process as deployed; yields a publisher once a
    warm-up alarm, raised and cleared, has gone all the way through (2 revisions stored)."""
    broker = MosquittoProcess(free_port(), work, persistence=True)
    broker.start()
    http_port = free_port()
    agent_yaml, centre_yaml = _configs(work, broker.url, http_port)
    gridedge = [sys.executable, "-m", "gridedge"]
    procs = [
        subprocess.Popen([*gridedge, "center", "--config", str(centre_yaml), "--log-level", "warning"]),
        subprocess.Popen([*gridedge, "agent", "--config", str(agent_yaml), "--log-level", "warning"]),
    ]
    publisher: Publisher | None = None
    try:
        _wait_healthy(http_port)
        publisher = Publisher(broker.port)
        _warm_up(publisher, work)
        yield publisher
    finally:
        if publisher is not None:
            publisher.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        broker.stop()


def _warm_up(publisher: Publisher, work: Path, timeout: float = 60) -> None:
    """Raise an alarm until the agent (which may still be starting) has it at the centre, then clear it."""
    key = f"SA-{DEVICES - 1:04d}"
    publisher.states[key] = True
    deadline = time.monotonic() + timeout
    while not _revisions(work):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no event reached the centre within {timeout} s of raising an alarm")
        publisher.publish(key, "alarm")
        time.sleep(0.5)
    publisher.states[key] = False
    publisher.publish(key, "clear")
    _wait_for_revisions(work, 2, 30)


def _wait_healthy(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run(quick: bool) -> Measured:
    messages = 3_000 if quick else 20_000
    paced_rate, paced_s = (200, 5) if quick else (500, 10)
    with tempfile.TemporaryDirectory(prefix="gridedge-bench-") as tmp, gateway_and_centre(Path(tmp)) as publisher:
        work = Path(tmp)
        stored = 2
        started = time.time()
        changes = sum(publisher.send(i, TOGGLE_EVERY) for i in range(messages))
        burst = _wait_for_revisions(work, stored + changes, 300)
        burst_s = max(received for _, received in burst[stored:]) - started
        stored = len(burst)

        changes = 0
        t0 = time.monotonic()
        for i in range(paced_rate * paced_s):
            time.sleep(max(0.0, t0 + i / paced_rate - time.monotonic()))
            changes += publisher.send(i, 10)
        paced = _wait_for_revisions(work, stored + changes, 60)[stored:]
    latencies = [(received - observed) * 1000 for observed, received in paced]
    return Measured(
        figures={
            "readings_per_s": messages * 7 / burst_s,
            "events_per_s": (len(burst) - 2) / burst_s,
            "latency_p50_ms": _percentile(latencies, 50),
            "latency_p99_ms": _percentile(latencies, 99),
            "latency_max_ms": max(latencies),
        },
        bounds=f"burst of {messages:,} messages x 7 readings from {DEVICES} alarms; "
        f"paced {paced_rate} msg/s for {paced_s} s ({len(paced)} events timed)",
        settings={
            "broker": settings.broker(),
            "device_qos": 1,
            **settings.AGENT,
            "centre_store": settings.CENTRE_SQLITE,
        },
    )
