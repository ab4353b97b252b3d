"""At least once from the wire into the decision, proved by killing the real agent process.

Smoke alarms publish alarm changes at QoS 1 while the agent is SIGKILLed three times (and restarted
at once): with a backlog in its queue, before and after outbox commits. The agent acknowledges a
device message to the broker only after the events it caused are committed, so whatever it had
acknowledged has had its effect, and whatever it had not is sent again by the broker to the next
agent. So every alarm raised must come out as a firing event whose observed time is that alarm's
own timestamp. A clean stop (SIGTERM) in the middle of the stream loses nothing either.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from gridedge.devtools.broker import MosquittoProcess
from tests.agent_process import start_agent
from tests.cloud_bridge.helpers import Collector, eventually

pytestmark = pytest.mark.integration

DEVICES = 40
RATE = 1500  # messages/s offered, one alarm change in TOGGLE_EVERY
TOGGLE_EVERY = 5


def agent_config(tmp: Path, port: int) -> Path:
    levels = (("district", "D01"), ("street", "S01"), ("community", "C01"), ("grid", "G01"))
    devices = [{"id": f"SA-{i:04d}", "profile": "generic-smoke-alarm", "location": {"site": f"Block {i}"}}
               for i in range(DEVICES)]  # fmt: skip
    config = {
        "gateway": {"id": "gw-acks", "grid": {lv: {"code": c} for lv, c in levels}, "location": {"site": "acks"}},
        "uplink": {"broker": f"mqtt://127.0.0.1:{port}"},
        "southbound": {"mqtt": f"mqtt://127.0.0.1:{port}"},
        "state_dir": str(tmp / "state"),
        "api": {"enabled": False},
        "inventory": {"devices": devices},
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Alarms:
    """Publishes at a steady rate from a thread; remembers (device, ts ms) of every alarm raised."""

    def __init__(self, port: int) -> None:
        self.raised: set[tuple[str, int]] = set()
        self.sent = 0
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="alarms")
        self._client.max_inflight_messages_set(1000)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="alarms")
        self._stop = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        state: dict[str, bool] = {}
        started, ts = time.monotonic(), int(time.time() * 1000)
        while not self._stop.is_set():
            elapsed = time.monotonic() - started
            while self.sent < elapsed * RATE:
                i = self.sent
                key = f"SA-{i % DEVICES:04d}"
                ts += 1  # strictly increasing: each alarm's own timestamp names it
                if i % TOGGLE_EVERY == 0:
                    state[key] = not state.get(key, False)
                    if state[key]:
                        self.raised.add((key, ts))
                doc = {"dev": key, "ts": ts, "event": "alarm", "state": {"smoke": state.get(key, False)}}
                self._client.publish(f"bridge/smoke/{key}/up", json.dumps(doc).encode(), qos=1)
                self.sent += 1
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._client.loop_stop()
        self._client.disconnect()


def fired(events: Collector) -> set[tuple[str, int]]:
    out = set()
    for e in events.payloads():
        if e["category"] == "fire_safety.smoke_alarm" and e["status"] == "firing":
            source, observed = e["source"], datetime.fromisoformat(str(e["observed_at"]))
            assert isinstance(source, dict)
            out.add((str(source["device_id"]), round(observed.timestamp() * 1000)))
    return out


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
async def test_every_alarm_the_agent_was_sent_comes_out_however_it_is_stopped(
    tmp_path: Path, broker: MosquittoProcess, how: signal.Signals
) -> None:
    config, log = agent_config(tmp_path, broker.port), tmp_path / "agent.log"
    async with Collector(broker.port, "gridedge/v1/events/#", client_id="centre-side") as events:
        agent = await asyncio.to_thread(start_agent, config, log)
        try:
            await eventually(lambda: "southbound: subscribed" in log.read_text(), within=30)
            alarms = await asyncio.to_thread(Alarms, broker.port)
            alarms.start()
            for n in range(1, 4):  # each agent is stopped in the middle of the backlog that waited for it
                await eventually(lambda n=n: log.read_text().count("southbound: subscribed") == n, within=30)
                decided = log.read_text().count(" firing ")
                await eventually(lambda d=decided: log.read_text().count(" firing ") > d, within=30)
                agent.send_signal(how)
                await asyncio.to_thread(agent.wait, 20)
                agent = await asyncio.to_thread(start_agent, config, log)
            await eventually(lambda: log.read_text().count("southbound: subscribed") == 4, within=30)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(alarms.stop)
            await eventually(lambda: alarms.raised <= fired(events), within=60)
        finally:
            agent.terminate()
            await asyncio.to_thread(agent.wait, 20)
    assert len(alarms.raised) > 200
    assert alarms.sent > 3000
