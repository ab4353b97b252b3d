"""A camera incident outlives the agent: the real agent process is SIGKILLed while its camera is offline,
started again, and the camera's return resolves the incident the first run opened (same event_id,
next seq); the second run's worker finding the camera still down publishes nothing new."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from bench.scenarios.e2e import agent_settings
from gridedge.devtools.broker import MosquittoProcess, free_port
from gridedge.simulators.scenes import OUTSIDE_SHOP, PAVEMENT, goods_left, write_clip
from tests.agent_process import start_agent as start_process
from tests.outage import Heard, Listener, running

pytestmark = pytest.mark.integration


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return start_process(config, log, log_level=None)


def camera_events(heard: list[Heard]) -> list[tuple[str, int, str]]:
    events = [json.loads(h.payload) for h in heard]
    return [(e["event_id"], e["seq"], e["status"]) for e in events if e["source"].get("camera_id") == "cam-1"]


async def test_a_camera_incident_continues_across_an_agent_killed_and_started_again(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    scene = dataclasses.replace(goods_left(placed=30.0, duration=4.0), name="cam-1-stream")
    source = tmp_path / "clips" / f"{scene.name}.avi"
    settings = agent_settings("gw-cam", broker.url, tmp_path / "agent", [])
    zone = {"name": "pavement", "polygon": [list(p) for p in PAVEMENT], "category": OUTSIDE_SHOP}
    settings["cameras"] = [{"id": "cam-1", "source": str(source), "zones": [zone], "offline_after_s": 0.5}]
    settings["api"] = {"port": free_port()}
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump(settings))
    async with running(Listener(broker, ["gridedge/v1/events/#"], client_id="test-officer")) as wire:
        agent = start_agent(config, tmp_path / "agent-1.log")
        try:
            await wire.wait_for("the camera offline", lambda h: len(camera_events(h)) == 1, timeout=60)
            agent.send_signal(signal.SIGKILL)
            await asyncio.to_thread(agent.wait, 10)
            agent = start_agent(config, tmp_path / "agent-2.log")
            # The second run's worker finds the camera down again: the same incident, nothing published.
            await asyncio.sleep(8)
            assert len(camera_events(wire.heard)) == 1, (tmp_path / "agent-2.log").read_text()[-2000:]
            await asyncio.to_thread(write_clip, scene, source.parent)  # the camera comes back
            await wire.wait_for("the incident resolved", lambda h: len(camera_events(h)) == 2, timeout=60)
        finally:
            agent.send_signal(signal.SIGTERM)
            await asyncio.to_thread(agent.wait, 15)
    (first_id, first_seq, first_status), (again_id, again_seq, again_status) = camera_events(wire.heard)
    assert (first_seq, first_status) == (1, "firing")
    assert (again_id, again_seq, again_status) == (first_id, 2, "resolved")
