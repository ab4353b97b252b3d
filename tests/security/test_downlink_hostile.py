"""Hostile input on every topic the agent reads, against the real agent process on a real Mosquitto.

- Retained poison downlink commands (non-ASCII signature, NUL, 10 MB, deep JSON, invalid UTF-8, a
  command for another gateway, an unknown command): the broker hands them out again on every
  subscription, so a crash would be a crash loop. Each is answered with a refusal and its reason on
  the reply topic, and the agent keeps running and still obeys a good command.
- A recorded good command replayed after a restart is refused: the replay cache is on disk.
- The same poison on the device topics the agent subscribes to: refused and counted (/metrics), the
  agent keeps running and still raises the alarm of a good message.
- The centre signs a command when it sends it, not when it was queued: an ack queued during a broker
  outage longer than the freshness window is still accepted.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest
import yaml

from gridedge.center.downlink import Ack, MqttDownlink
from gridedge.center.workflow import Action
from gridedge.cloud_bridge.downlink import Downlink
from gridedge.devtools.broker import MosquittoProcess, free_port
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.clock import FakeClock
from gridedge.edge.command import MAX_AGE_S, CommandName, gateway_key, sign
from gridedge.edge.command import Command as SignedCommand
from tests.agent_process import start_agent
from tests.cloud_bridge.helpers import Collector, eventually

pytestmark = pytest.mark.integration

GW = "gw-hostile"
CITY = b"city-secret-for-the-hostile-tests"
KEY = gateway_key(CITY, GW)
TOKEN = "hostile-test-token"
SMOKE = "bridge/smoke/SA-0001/up"
DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000
TEN_MB = b'{"x":"' + b"A" * (10 << 20) + b'"}'


def cmd(name: str) -> str:
    return f"gridedge/v1/cmd/{GW}/{name}"


def with_signature(signature: str) -> bytes:
    body = json.loads(sign(KEY, CommandName.PING, GW, now=time.time()).to_json())
    body["signature"] = signature
    return json.dumps(body, ensure_ascii=False).encode()


POISON: dict[str, tuple[bytes, str]] = {
    # topic name: (retained payload, the reason the reply must give)
    "ping": (with_signature("é" * 64), "malformed"),  # once a TypeError in compare_digest that stopped the agent
    "ack": (b'{"name":"ack","gateway_id":"' + GW.encode() + b'\x00","nonce":"\x00"}', "malformed"),
    "silence": (b"\xff\xfe{not utf-8", "malformed"),
    "push_rules": (TEN_MB, "oversize"),
    "push_profiles": (DEEP, "malformed"),
    "push_inventory": (sign(gateway_key(CITY, "gw-x"), CommandName.PING, "gw-x", now=0).to_json(), "bad_signature"),
    "reboot": (b"{}", "malformed"),
}


def agent_config(tmp: Path, port: int, api_port: int) -> Path:
    (tmp / "gw.key").write_text(KEY.hex() + "\n")
    levels = (("district", "D01"), ("street", "S01"), ("community", "C01"), ("grid", "G01"))
    config = {
        "gateway": {"id": GW, "grid": {lv: {"code": c} for lv, c in levels}, "location": {"site": "hostile"}},
        "uplink": {"broker": f"mqtt://127.0.0.1:{port}", "command_key_file": str(tmp / "gw.key")},
        "southbound": {"mqtt": f"mqtt://127.0.0.1:{port}"},
        "state_dir": str(tmp / "state"),
        "api": {"port": api_port, "token": TOKEN},
        "inventory": {
            "devices": [{"id": "SA-0001", "profile": "generic-smoke-alarm", "location": {"site": "Block 1"}}]
        },
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@asynccontextmanager
async def running_agent(config: Path, log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    agent = await asyncio.to_thread(start_agent, config, log)
    try:
        yield agent
    finally:
        agent.terminate()
        await asyncio.to_thread(agent.wait, 20)


def metrics(api_port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{api_port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(response.read().decode())


def counted(text: str, metric: str, labels: str) -> float:
    prefix = f"{metric}{{{labels}}} "
    return sum(float(line.removeprefix(prefix)) for line in text.splitlines() if line.startswith(prefix))


def rejected(text: str, reason: str) -> float:
    return counted(text, "gridedge_readings_rejected_total", f'driver="mqtt",reason="{reason}"')


async def publish(port: int, topic: str, payload: bytes, *, retain: bool = False) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"hostile-{time.monotonic_ns()}") as client:
        await client.publish(topic, payload, qos=1, retain=retain)


def replies(collector: Collector) -> dict[str, dict[str, object]]:
    """The last reply per command name."""
    return {str(r["command"]): r for r in collector.payloads()}


async def test_retained_poison_commands_are_refused_with_a_reason_and_the_agent_keeps_running(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    for name, (payload, _) in POISON.items():
        await publish(broker.port, cmd(name), payload, retain=True)
    good = sign(KEY, CommandName.PING, GW, now=time.time())
    api_port = free_port()
    config, log = agent_config(tmp_path, broker.port, api_port), tmp_path / "agent.log"
    async with (
        Collector(broker.port, f"gridedge/v1/cmd/{GW}/+/reply", persistent=False) as seen,
        running_agent(config, log) as agent,
    ):
        await seen.wait_until(lambda: set(POISON) <= set(replies(seen)), within=30)
        got = replies(seen)
        for name, (_, reason) in POISON.items():
            assert (got[name]["ok"], got[name]["detail"]) == (False, reason), (name, got[name])
            assert got[name]["result"]["why"]  # type: ignore[index] # and why, in words
        assert agent.poll() is None
        await publish(broker.port, good.topic, good.to_json())  # the agent still obeys a good command
        await seen.wait_until(lambda: replies(seen)["ping"]["nonce"] == good.nonce, within=15)
        assert replies(seen)["ping"]["ok"] is True
        text = await asyncio.to_thread(metrics, api_port)
        assert agent.poll() is None
    for reason in ("malformed", "oversize", "bad_signature"):
        expected = sum(r == reason for _, r in POISON.values())
        assert counted(text, "gridedge_commands_refused_total", f'reason="{reason}"') >= expected, reason
    assert "Traceback" not in log.read_text()


async def test_a_recorded_command_replayed_after_a_restart_is_refused(tmp_path: Path, broker: MosquittoProcess) -> None:
    config, log = agent_config(tmp_path, broker.port, free_port()), tmp_path / "agent.log"
    recorded = sign(KEY, CommandName.PING, GW, now=time.time())
    async with Collector(broker.port, f"gridedge/v1/cmd/{GW}/+/reply", persistent=False) as seen:
        async with running_agent(config, log):
            await eventually(lambda: "uplink connected" in log.read_text(), within=30)
            await asyncio.sleep(0.5)  # the uplink subscribes to its commands right after connecting
            await publish(broker.port, recorded.topic, recorded.to_json())
            await seen.wait_until(lambda: len(seen.messages) == 1, within=15)
        async with running_agent(config, log):  # a restart, well inside the freshness window
            await eventually(lambda: log.read_text().count("uplink connected") >= 2, within=30)
            await asyncio.sleep(0.5)
            await publish(broker.port, recorded.topic, recorded.to_json())  # the attacker replays it
            await seen.wait_until(lambda: len(seen.messages) == 2, within=15)
    first, second = seen.payloads()
    assert (first["ok"], first["nonce"]) == (True, recorded.nonce)
    assert (second["ok"], second["detail"]) == (False, "replayed")
    assert time.time() - recorded.issued_at < MAX_AGE_S  # so only the cache on disk can have refused it


async def test_hostile_device_messages_are_refused_counted_and_the_agent_keeps_running(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    api_port = free_port()
    config, log = agent_config(tmp_path, broker.port, api_port), tmp_path / "agent.log"
    poison = [b"\x00", b'{"state": {"smoke": "\x00"}}', b"\xff\xfe\xfd", DEEP, TEN_MB, b'{"ts": 1e999}']
    async with (
        Collector(broker.port, "gridedge/v1/events/#", persistent=False) as events,
        running_agent(config, log) as agent,
    ):
        await eventually(lambda: "southbound: subscribed" in log.read_text(), within=30)
        for payload in poison:
            await publish(broker.port, SMOKE, payload)
        await publish(broker.port, SMOKE, json.dumps({"ts": time.time() * 1000, "state": {"smoke": True}}).encode())
        await events.wait_until(lambda: any(e["status"] == "firing" for e in events.payloads()), within=30)
        text = await asyncio.to_thread(metrics, api_port)
        assert agent.poll() is None
    assert rejected(text, "oversize") == 1  # the 10 MB one: over the client's packet limit, skipped
    assert rejected(text, "fields") >= 4  # not JSON, not UTF-8, too deep, a NUL where a boolean belongs
    assert "Traceback" not in log.read_text()


async def test_the_centre_signs_when_it_sends_so_an_outage_does_not_make_commands_stale(
    broker: MosquittoProcess,
) -> None:
    clock = FakeClock(time.time())
    centre = MqttDownlink(BrokerConfig(host="127.0.0.1", port=broker.port), CITY, "centre-cmd", clock=clock)
    await centre.send(Ack(GW, "evt-1", Action.VERIFY, "officer-7"))  # queued while the broker is "down"
    clock.advance(10 * MAX_AGE_S)  # the outage lasted ten freshness windows
    gateway = Downlink(GW, KEY, {}, clock=clock)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="gw-listener") as listener:
        await listener.subscribe(cmd("+"), qos=1)
        sending = asyncio.create_task(centre.run())
        try:
            async with asyncio.timeout(10):
                message = await anext(aiter(listener.messages))
        finally:
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
    assert isinstance(message.payload, bytes)
    command = SignedCommand.model_validate_json(message.payload)
    assert command.issued_at == clock.now()
    reply = await gateway.handle(message.topic.value, message.payload)
    assert json.loads(reply.payload)["detail"] == "unsupported"  # verified (fresh, signed); no handler here
