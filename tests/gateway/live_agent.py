"""The real agent process and the real centre for gateway integration tests: configs, start, wait."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import paho.mqtt.publish as publish
import yaml

from gridedge.center.service import run_center
from gridedge.edge.broker import BrokerConfig
from tests.centre_stack import centre_config
from tests.gateway.ops_support import AUTH, TOKEN, gateway_config
from tests.servers import free_port

T = TypeVar("T")


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


def write_config(workdir: Path, broker: str, api_port: int, **updates: Any) -> Path:
    """The demo gateway (alarms SA-0001..) with its API on `api_port`, its token from the environment."""
    config = gateway_config(workdir, broker, api_port=api_port, **updates)
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


def smoke(port: int, alarm: str, value: bool) -> float:
    """The alarm's radio bridge reports smoke (or none); returns the reading's time."""
    ts = time.time()
    doc = {
        "dev": alarm,
        "ts": int(ts * 1000),
        "event": "alarm",
        "state": {"smoke": value, "tamper": False, "battery_pct": 90, "low_battery": False, "self_test": False},
        "rssi": -70,
    }
    publish.single(f"bridge/smoke/{alarm}/up", json.dumps(doc), qos=1, hostname="127.0.0.1", port=port)
    return ts


async def until(probe: Callable[[], Awaitable[T | None]], within: float, what: str) -> T:
    """The first truthy answer of `probe`, asked every 0.2 s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")
