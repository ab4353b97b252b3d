"""A silence an installer sets through the local API of the real agent process: refused when longer than
the gateway's maximum; otherwise it holds the smoke alarm back, survives kill -9 and a restart, is
shown at the real centre with who set it and why, and ends on time, when the held alarm is published
with its real start."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.publish as publish
import pytest
import yaml

from gridedge.center.service import run_center
from gridedge.devtools.broker import MosquittoProcess
from gridedge.edge.broker import BrokerConfig
from tests.centre_stack import AUTH as CENTRE_AUTH
from tests.centre_stack import centre_config
from tests.gateway.ops_support import AUTH, TOKEN, gateway_config
from tests.servers import free_port

pytestmark = pytest.mark.integration

GATEWAY = "gw-demo-01"
ALARM = "SA-0001"
SILENCE_S = 25.0
MAX_SILENCE_S = 600
SMOKE_CASES = {"status": "all", "category": "fire_safety.smoke_alarm"}  # the demo's other alarms go offline


@asynccontextmanager
async def running_centre(broker: BrokerConfig, folder: Path) -> AsyncIterator[str]:
    port = free_port()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_center(centre_config(broker, folder, port), stop=stop, ready=ready))
    try:
        await asyncio.wait([task, asyncio.create_task(ready.wait())], timeout=20, return_when=asyncio.FIRST_COMPLETED)
        assert ready.is_set(), "the centre did not become ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def write_config(workdir: Path, broker: str, api_port: int) -> Path:
    config = gateway_config(workdir, broker, api_port=api_port, max_silence_s=MAX_SILENCE_S)
    doc = config.model_dump(mode="json", exclude={"api": {"token"}}, exclude_none=True)
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "gridedge", "agent", "--config", str(config)],
            stderr=sink,
            env={**os.environ, "GRIDEDGE_API_TOKEN": TOKEN},
        )


def text_of(log: Path) -> str:
    return log.read_text()


async def start_agent(config: Path, log: Path, api: str) -> subprocess.Popen[bytes]:
    """The agent process, once its local API answers and its southbound broker is connected."""
    agent = spawn(config, log)
    async with httpx.AsyncClient(base_url=api, headers=AUTH, timeout=2) as http:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert agent.poll() is None, text_of(log)
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return agent
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    agent.kill()
    raise AssertionError(f"agent not ready: {text_of(log)}")


def smoke(port: int, value: bool) -> float:
    ts = time.time()
    doc = {
        "dev": ALARM,
        "ts": int(ts * 1000),
        "event": "alarm",
        "state": {"smoke": value, "tamper": False, "battery_pct": 90, "low_battery": False, "self_test": False},
        "rssi": -70,
    }
    publish.single(f"bridge/smoke/{ALARM}/up", json.dumps(doc), qos=1, hostname="127.0.0.1", port=port)
    return ts


async def until(probe: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")


async def test_a_silence_survives_kill_9_shows_at_the_centre_and_ends_on_time(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    config = write_config(tmp_path, broker.url, api_port)
    log = tmp_path / "agent.log"
    async with (
        running_centre(BrokerConfig(host="127.0.0.1", port=broker.port), tmp_path) as centre_url,
        httpx.AsyncClient(base_url=centre_url, headers=CENTRE_AUTH, timeout=5) as centre,
        httpx.AsyncClient(base_url=api, headers=AUTH, timeout=5) as local,
    ):
        agent = await start_agent(config, log, api)
        try:
            too_long = {
                "device": ALARM,
                "ends_at": datetime.fromtimestamp(time.time() + 2 * MAX_SILENCE_S, tz=UTC).isoformat(),
                "reason": "detector replaced",
                "author": "installer.zhao",
            }
            refused = await local.post("/api/silences", json=too_long)
            assert refused.status_code == 422
            assert f"a silence may last at most {MAX_SILENCE_S} s" in refused.json()["detail"]

            ends_at = time.time() + SILENCE_S
            body = too_long | {"ends_at": datetime.fromtimestamp(ends_at, tz=UTC).isoformat()}
            added = await local.post("/api/silences", json=body)
            assert added.status_code == 200, added.text
            silence_id = added.json()["id"]
            started = await asyncio.to_thread(smoke, broker.port, True)

            async def shown_at_centre() -> dict[str, Any] | None:
                got = await centre.get(f"/api/gateways/{GATEWAY}")
                found = got.json() if got.status_code == 200 else None
                return found if found and found["held"].get("silenced") == 1 else None

            status = await until(shown_at_centre, 15, "the silence and the held alarm in the centre's gateway view")
            assert [(s["id"], s["device"], s["author"], s["reason"]) for s in status["silences"]] == [
                (silence_id, ALARM, "installer.zhao", "detector replaced")
            ]
            assert (await centre.get("/api/cases", params=SMOKE_CASES)).json() == []  # held, not shown

            agent.send_signal(signal.SIGKILL)
            await asyncio.to_thread(agent.wait, 10)
            agent = await start_agent(config, log, api)
            kept = (await local.get("/api/silences")).json()
            assert [(s["id"], s["author"], round(s["ends_at"], 3)) for s in kept] == [
                (silence_id, "installer.zhao", round(ends_at, 3))
            ]
            await asyncio.sleep(max(0.0, ends_at - time.time() - 2))
            assert (await centre.get("/api/cases", params=SMOKE_CASES)).json() == []  # still held

            async def published() -> list[dict[str, Any]]:
                cases: list[dict[str, Any]] = (await centre.get("/api/cases", params=SMOKE_CASES)).json()
                return cases

            (case,) = await until(published, 10, "the held alarm published when the silence ended")
            arrived = time.time()
            assert ends_at <= arrived <= ends_at + 6  # ended on time (the clock ticks every second)
            assert (case["device_id"], case["source_status"]) == (ALARM, "firing")
            assert abs(datetime.fromisoformat(case["started_at"]).timestamp() - started) < 1  # its real start

            async def silence_gone() -> bool:
                got = (await centre.get(f"/api/gateways/{GATEWAY}")).json()
                return got["silences"] == [] and not got["held"].get("silenced")

            await until(silence_gone, 10, "the ended silence gone from the centre's gateway view")
            assert (await local.get("/api/silences")).json() == []
        finally:
            agent.send_signal(signal.SIGTERM)
            await asyncio.to_thread(agent.wait, 20)
