"""Scenario `footprint`: what the agent costs a small gateway box.

`gridedge agent` runs in its own process with 1,000 smoke alarms in its inventory, no cameras, the
local API on and telemetry off, on a real Mosquitto on loopback.
- rss_mb: resident memory once started and idle, and `rss_loaded_mb` after the load below.
- cpu_s_per_1k_readings: the agent process's CPU time (user + system) while it decodes, decides and
  keeps state for MESSAGES vendor messages (7 readings each) spread over all devices, divided by
  thousands of readings. The window ends when /metrics shows every reading handed to the rules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psutil
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from bench import settings
from bench.harness import Measured
from gridedge.devtools.broker import MosquittoProcess, free_port

DEVICES = 1_000
READINGS_PER_MESSAGE = 7
TOKEN = "bench-footprint"  # noqa: S105 - a throwaway token for a loopback-only run
SETTLE_S = 3.0


def _config(work: Path, broker: str, api_port: int) -> Path:
    devices = [
        {"id": f"SA-{i:04d}", "profile": "generic-smoke-alarm", "location": {"site": f"Block {i}"}}
        for i in range(DEVICES)
    ]
    cell = {
        level: {"code": code}
        for level, code in (("district", "D01"), ("street", "S01"), ("community", "C01"), ("grid", "G01"))
    }
    doc = {
        "gateway": {"id": "gw-footprint", "grid": cell, "location": {"site": "bench"}},
        "uplink": {"broker": broker},
        "southbound": {"mqtt": broker},
        "state_dir": str(work / "agent"),
        "inventory": {"devices": devices},
        "api": {"port": api_port},
    }
    path = work / "agent.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _readings_out(api: str) -> float:
    text = httpx.get(f"{api}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).text
    for line in text.splitlines():
        if line.startswith("gridedge_readings_out_total"):
            return float(line.split()[-1])
    return 0.0


def _publish(port: int, messages: int) -> None:
    window = threading.BoundedSemaphore(1000)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-footprint")
    client.max_inflight_messages_set(1000)
    client.on_publish = lambda *_: window.release()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for i in range(messages):
            key = f"SA-{i % DEVICES:04d}"
            state = {"smoke": False, "tamper": False, "battery_pct": 90, "low_battery": False, "self_test": False}
            doc = {"dev": key, "ts": int(time.time() * 1000), "event": "heartbeat", "state": state, "rssi": -70}
            window.acquire()
            client.publish(f"bridge/smoke/{key}/up", json.dumps(doc, separators=(",", ":")), qos=1)
    finally:
        client.loop_stop()
        client.disconnect()


def run(quick: bool) -> Measured:
    messages = 3_000 if quick else 30_000
    with tempfile.TemporaryDirectory(prefix="gridedge-footprint-") as tmp:
        work = Path(tmp)
        broker = MosquittoProcess(free_port(), work, persistence=True)
        broker.start()
        api_port = free_port()
        api = f"http://127.0.0.1:{api_port}"
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gridedge",
                "agent",
                "--config",
                str(_config(work, broker.url, api_port)),
                "--log-level",
                "warning",
            ],
            env={**os.environ, "GRIDEDGE_API_TOKEN": TOKEN},
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{api}/readyz", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or agent.poll() is not None:
                    raise RuntimeError("agent did not become ready")
                time.sleep(0.2)
            time.sleep(SETTLE_S)
            process = psutil.Process(agent.pid)
            rss_idle = process.memory_info().rss / 2**20
            cpu_before = process.cpu_times()
            started = time.monotonic()
            _publish(broker.port, messages)
            expected = messages * READINGS_PER_MESSAGE
            while _readings_out(api) < expected:
                if time.monotonic() - started > 300:
                    raise TimeoutError("the agent did not decide on every reading within 300 s")
                time.sleep(0.1)
            cpu_after = process.cpu_times()
            elapsed = time.monotonic() - started
            rss_loaded = process.memory_info().rss / 2**20
        finally:
            agent.terminate()
            agent.wait(timeout=30)
            broker.stop()
    cpu_s = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    return Measured(
        figures={
            "rss_mb": rss_idle,
            "rss_loaded_mb": rss_loaded,
            "cpu_s_per_1k_readings": cpu_s / (expected / 1000),
            "readings_per_s": expected / elapsed,
        },
        bounds=f"{DEVICES:,} devices, no cameras; {messages:,} messages x {READINGS_PER_MESSAGE} readings",
        notes={"cpu": "agent process user+system CPU over the load window, including the local API's scrapes"},
        settings={"broker": settings.broker(), "device_qos": 1, **settings.AGENT},
    )
