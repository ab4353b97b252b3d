"""The promise across a crash: a gateway killed with SIGKILL loses no acknowledged event and is seen offline."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gridedge.cloud_bridge import Outbox, Uplink
from gridedge.devtools.broker import MosquittoProcess
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.topics import status_topic
from tests.cloud_bridge.helpers import GATEWAY, Collector, eventually, number_of

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]


def child(*args: str, stdout: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.cloud_bridge.child", *args], cwd=REPO, stdout=stdout, text=True
    )


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=5)


async def test_a_killed_gateway_is_announced_offline_by_its_last_will(broker: MosquittoProcess, tmp_path: Path) -> None:
    topic = status_topic(GATEWAY)
    async with Collector(broker.port, topic, persistent=False, client_id="watch") as sub:
        proc = child("uplink", str(broker.port), str(tmp_path / "outbox.sqlite3"))
        try:
            await sub.wait_until(lambda: any(p["state"] == "online" for p in sub.payloads()))
        finally:
            await asyncio.to_thread(kill, proc)
        await sub.wait_until(lambda: sub.payloads()[-1]["state"] == "offline", within=5)
    assert sub.payloads()[-1]["reason"] == "lost"
    async with Collector(broker.port, topic, persistent=False, client_id="late") as late:
        await late.wait_until(lambda: len(late.messages) == 1)
    assert late.messages[0].retain
    assert late.payloads()[0] == {"state": "offline", "gateway_id": GATEWAY, "version": "0.1.0", "reason": "lost"}


async def test_every_acknowledged_put_survives_a_kill_and_reaches_the_broker(
    broker: MosquittoProcess, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.sqlite3"
    proc = child("put", str(path), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    acknowledged = -1
    try:
        while acknowledged < 2000:
            acknowledged = int(await asyncio.to_thread(proc.stdout.readline))
    finally:
        await asyncio.to_thread(kill, proc)
    for line in proc.stdout:  # what it acknowledged before it died
        acknowledged = int(line)
    proc.stdout.close()

    with Outbox(path) as outbox:
        assert outbox.depth() >= acknowledged + 1
        async with Collector(broker.port, "gridedge/v1/events/#") as sub:
            stop = asyncio.Event()
            task = asyncio.create_task(
                Uplink(outbox, BrokerConfig(host="127.0.0.1", port=broker.port), GATEWAY).run(stop)
            )
            try:
                await sub.wait_until(lambda: len(sub.messages) >= acknowledged + 1)
                await eventually(lambda: outbox.depth() == 0)
            finally:
                stop.set()
                await task
    arrived = [number_of(m) for m in sub.messages]
    assert arrived[: acknowledged + 1] == list(range(acknowledged + 1))
