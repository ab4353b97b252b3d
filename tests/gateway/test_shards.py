"""A sharded agent (runtime.shards: 2) against the single-process one, on real Mosquitto and the real
`gridedge agent` process: the same grid events from the same recorded stream, nothing acknowledged
lost when a shard process is killed, and an installer's silence reaching every shard.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from gridedge.gateway.shards import shard_of
from gridedge.rules.model import BUILTIN_PACKS
from tests.agent_process import start_agent as start_process
from tests.cloud_bridge.helpers import Collector, eventually
from tests.gateway.ops_support import AUTH, TOKEN
from tests.gateway.test_southbound_acks import DEVICES as ALARMS
from tests.gateway.test_southbound_acks import Alarms, fired
from tests.servers import free_port, mosquitto

pytestmark = pytest.mark.integration

SITES = [f"Block {i}" for i in range(6)]
PER_SITE = 8
START_MS = 1_780_000_000_000
CORRELATION_PACK = """\
schema: gridedge.rules/1
rules:
  - id: smoke_at_site
    match: {role: smoke}
    condition: value == True
    severity: major
    category: fire_safety.ebike_charging_fire
    title: "Smoke somewhere at $site"
    group_by: site
  - id: smoke_while_tampered
    kind: correlation
    all_of: [smoke_alarm, smoke_alarm_tamper]
    severity: critical
    category: fire_safety.ebike_indoor
    title: "Smoke and tampering at $site"
"""


def devices() -> list[tuple[str, str]]:
    """(device, site): smoke alarms, and one shopfront IR sensor per site."""
    out = [(f"SA-{s}-{i}", site) for s, site in enumerate(SITES) for i in range(PER_SITE)]
    return out + [(f"IR-{s}", site) for s, site in enumerate(SITES)]


def write_config(
    tmp: Path, port: int, shards: int, *, api_port: int | None = None, sited: list[tuple[str, str]] | None = None
) -> Path:
    levels = (("district", "D01"), ("street", "S01"), ("community", "C01"), ("grid", "G01"))
    inventory = [
        {
            "id": key,
            "profile": "ir-shopfront-sensor" if key.startswith("IR") else "generic-smoke-alarm",
            "location": {"site": site},
            "liveness": {"heartbeat_interval_s": 1800, "offline_after_s": 3600},
        }
        for key, site in sited or devices()
    ]
    (tmp / "correlation.yaml").write_text(CORRELATION_PACK)
    config = {
        "gateway": {"id": "gw-shards", "grid": {lv: {"code": c} for lv, c in levels}, "location": {"site": "gw"}},
        "uplink": {"broker": f"mqtt://127.0.0.1:{port}"},
        "southbound": {"mqtt": f"mqtt://127.0.0.1:{port}"},
        "state_dir": str(tmp / "state"),
        "api": {"enabled": api_port is not None, "port": api_port or 8780},
        "inventory": {"devices": inventory},
        "rule_packs": [*(str(p) for p in sorted(BUILTIN_PACKS.glob("*.yaml"))), str(tmp / "correlation.yaml")],
        "runtime": {"shards": shards},
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return start_process(config, log, env={"GRIDEDGE_API_TOKEN": TOKEN})


def smoke(key: str, ts: int, smoke: bool = False, tamper: bool = False, low_battery: bool = False) -> tuple[str, bytes]:
    state = {"smoke": smoke, "tamper": tamper, "battery_pct": 15 if low_battery else 90, "low_battery": low_battery}
    doc = {"dev": key, "ts": ts, "event": "alarm" if smoke else "heartbeat", "state": state, "rssi": -70}
    return f"bridge/smoke/{key}/up", json.dumps(doc).encode()


def ir(key: str, ts: int, dwell: float) -> tuple[str, bytes]:
    doc = {"id": key, "ts": ts, "presence": dwell > 0, "dwell_s": dwell, "beam_breaks": 1}
    return f"shopfront/ir/{key}/state", json.dumps(doc).encode()


def recorded_stream(n: int = 2500, seed: int = 7) -> list[tuple[str, bytes]]:
    """Heartbeats with smoke alarms and clears, tampering (with smoke: the correlation), low batteries,
    loitering at shopfronts, several devices of a site alarming together (the site's incident grows);
    then on the first alarm of each site a last alarm raised and cleared, the marker of its end."""
    rng = random.Random(seed)
    state: dict[str, dict[str, bool]] = defaultdict(dict)
    out = []
    ts = START_MS
    for _ in range(n):
        ts += 1
        key, _site = rng.choice(devices())
        if key.startswith("IR"):
            out.append(ir(key, ts, rng.choice([0.0, 12.0, 400.0]) if rng.random() < 0.3 else 0.0))
            continue
        s = state[key]
        roll = rng.random()
        if roll < 0.08:
            s["smoke"] = not s.get("smoke", False)
        elif roll < 0.11:
            s["tamper"] = not s.get("tamper", False)
        elif roll < 0.13:
            s["low_battery"] = not s.get("low_battery", False)
        out.append(smoke(key, ts, **s))
    for s, _ in enumerate(SITES):
        key = f"SA-{s}-0"
        out += [smoke(key, ts + 1, False), smoke(key, ts + 2, True), smoke(key, ts + 3, False)]
    return out


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="recorded-stream")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


def markers_done(events: Collector) -> bool:
    last = START_MS + 2500 + 3
    ends = {
        e["source"]["device_id"]  # type: ignore[index]
        for e in events.payloads()
        if e["category"] == "fire_safety.smoke_alarm" and e["status"] == "resolved" and e["ended_at"] is not None
        and round(datetime.fromisoformat(str(e["ended_at"])).timestamp() * 1000) == last
    }  # fmt: skip
    return len(ends) == len(SITES)


def by_device(events: Collector) -> dict[str, list[dict[str, Any]]]:
    """Each device's grid events in the order they reached the centre, without their random event id
    (an incident's revisions are linked by the rank of the incident instead)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for payload in events.payloads():
        e = dict(payload)
        # A correlation's evidence comes in the order of a set of its members, which Python's per-process
        # string hashing decides: two single-process runs differ there too. Compared as a multiset.
        e["evidence"] = sorted(json.dumps(r, sort_keys=True) for r in e["evidence"]["readings"])  # type: ignore[index]
        out[str(e["source"]["device_id"])].append(e)  # type: ignore[index]
    for evs in out.values():  # the rank of its incident among the device's, in order of first revision
        first: dict[object, int] = {}
        for e in evs:
            e["event_id"] = first.setdefault(e["event_id"], len(first))
    return dict(out)


async def grid_events(tmp: Path, shards: int, stream: list[tuple[str, bytes]]) -> dict[str, list[dict[str, Any]]]:
    """Run a fresh agent with `shards` on its own Mosquitto, play the stream, return its grid events."""
    with mosquitto(tmp) as broker:
        config, log = write_config(tmp, broker.port, shards), tmp / "agent.log"
        async with Collector(broker.port, "gridedge/v1/events/#", client_id="centre") as events:
            agent = await asyncio.to_thread(start_agent, config, log)
            try:
                await eventually(lambda: log.read_text().count("southbound: subscribed") == shards, within=30)
                await asyncio.to_thread(publish_all, broker.port, stream)
                await eventually(lambda: markers_done(events), within=40)
                await asyncio.sleep(1.0)  # anything after the markers would be a difference too
            finally:
                agent.terminate()
                await asyncio.to_thread(agent.wait, 20)
            assert agent.returncode == 0, log.read_text()[-3000:]
            found = by_device(events)
            (tmp / "events.json").write_text(json.dumps(found, indent=1, sort_keys=True))  # to compare by eye
            return found


async def test_sharded_and_single_process_agents_give_identical_grid_events(tmp_path: Path) -> None:
    assert {shard_of(site, 2) for site in SITES} == {0, 1}  # both shards have devices
    stream = recorded_stream()
    for run in ("single", "sharded"):
        (tmp_path / run).mkdir()
    single = await grid_events(tmp_path / "single", 1, stream)
    sharded = await grid_events(tmp_path / "sharded", 2, stream)
    categories = {e["category"] for evs in single.values() for e in evs}
    assert {
        "fire_safety.smoke_alarm",
        "fire_safety.ebike_charging_fire",
        "fire_safety.ebike_indoor",
        "device.tamper",
        "device.low_battery",
        "street_order.outside_shop_operation",
    } <= categories, categories
    assert sum(len(v) for v in single.values()) > 300
    assert sharded.keys() == single.keys()
    for device, events in single.items():
        assert sharded[device] == events, device


def shard_pids(log: Path) -> dict[int, int]:
    return {int(i): int(pid) for i, pid in re.findall(r"shard (\d+) started \(pid (\d+)\)", log.read_text())}


async def test_a_killed_shard_loses_no_acknowledged_alarm(tmp_path: Path) -> None:
    """Alarms stream in at QoS 1 while one shard process is SIGKILLed twice in the middle of its backlog:
    the main process starts it again, the broker sends what it had not acknowledged."""
    with mosquitto(tmp_path) as broker:
        alarms_at = [(f"SA-{i:04d}", f"Block {i}") for i in range(ALARMS)]  # tests/gateway/test_southbound_acks.py
        config = write_config(tmp_path, broker.port, 2, sited=alarms_at)
        log = tmp_path / "agent.log"
        async with Collector(broker.port, "gridedge/v1/events/#", client_id="centre") as events:
            agent = await asyncio.to_thread(start_agent, config, log)
            try:
                await eventually(lambda: log.read_text().count("southbound: subscribed") == 2, within=30)
                alarms = await asyncio.to_thread(Alarms, broker.port)
                alarms.start()
                for n in range(2):
                    victim = n % 2
                    before = log.read_text().count(" firing ")
                    await eventually(lambda b=before: log.read_text().count(" firing ") > b + 20, within=30)
                    pid = shard_pids(log)[victim]
                    os.kill(pid, signal.SIGKILL)
                    await eventually(lambda p=pid, v=victim: shard_pids(log)[v] != p, within=30)
                await eventually(lambda: log.read_text().count("southbound: subscribed") == 4, within=30)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(alarms.stop)
                await eventually(lambda: alarms.raised <= fired(events), within=60)
            finally:
                agent.terminate()
                await asyncio.to_thread(agent.wait, 20)
    assert "starting it again" in log.read_text()
    assert len(alarms.raised) > 100


async def test_a_silence_set_on_the_local_api_holds_alarms_in_every_shard(tmp_path: Path) -> None:
    in_shard = {shard_of(site, 2): s for s, site in enumerate(SITES)}
    silenced = [f"SA-{in_shard[0]}-1", f"SA-{in_shard[1]}-1"]
    loud = [f"SA-{in_shard[0]}-2", f"SA-{in_shard[1]}-2"]  # not silenced: their alarms show each shard decided
    api_port = free_port()
    with mosquitto(tmp_path) as broker:
        config, log = write_config(tmp_path, broker.port, 2, api_port=api_port), tmp_path / "agent.log"
        async with Collector(broker.port, "gridedge/v1/events/#", client_id="centre") as events:
            agent = await asyncio.to_thread(start_agent, config, log)
            try:
                await eventually(lambda: log.read_text().count("southbound: subscribed") == 2, within=30)
                ends = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", headers=AUTH) as http:
                    for device in silenced:
                        silence = {"device": device, "ends_at": ends, "author": "installer", "reason": "works"}
                        assert (await http.post("/api/silences", json=silence)).status_code == 200
                    reloaded = (await http.post("/api/config/reload")).json()  # every shard reloads and answers
                    assert reloaded["detail"] == {"reload_devices": True, "reload_rules": True}, reloaded
                    now = int(datetime.now(UTC).timestamp() * 1000)
                    await asyncio.to_thread(publish_all, broker.port, [smoke(d, now, True) for d in silenced + loud])
                    await eventually(lambda: set(loud) <= devices_in(events), within=20)
                    held = 0.0
                    for _ in range(50):  # a shard's status report (every 0.2 s) carries its held incidents
                        found = re.search(r'gridedge_incidents_held\{reason="silenced"\} (\S+)', await metrics(http))
                        held = float(found.group(1)) if found else 0.0
                        if held >= 4:
                            break
                        await asyncio.sleep(0.1)
            finally:
                agent.terminate()
                await asyncio.to_thread(agent.wait, 20)
    assert not devices_in(events) & set(silenced), events.payloads()
    assert held == 4  # each silenced alarm and its site's incident (smoke_at_site), in both shards


def devices_in(events: Collector) -> set[str]:
    return {str(e["source"]["device_id"]) for e in events.payloads()}  # type: ignore[index]


async def metrics(http: httpx.AsyncClient) -> str:
    return (await http.get("/metrics")).text


async def test_a_restart_with_another_shard_count_continues_open_incidents(tmp_path: Path) -> None:
    """Alarms raised by a one-process agent are resolved, under the same event, by a two-shard agent on
    the same state: each shard restores its devices' incidents from the one outbox."""
    in_shard = {shard_of(site, 2): s for s, site in enumerate(SITES)}
    alarms = [f"SA-{in_shard[0]}-3", f"SA-{in_shard[1]}-3"]
    with mosquitto(tmp_path) as broker:
        log = tmp_path / "agent.log"
        async with Collector(broker.port, "gridedge/v1/events/#", client_id="centre") as events:
            for shards, smoky, sessions in ((1, True, 1), (2, False, 3)):
                config = write_config(tmp_path, broker.port, shards)
                agent = await asyncio.to_thread(start_agent, config, log)
                try:
                    subscribed = lambda n=sessions: log.read_text().count("southbound: subscribed") == n  # noqa: E731
                    await eventually(subscribed, within=30)
                    now = int(datetime.now(UTC).timestamp() * 1000)
                    await asyncio.to_thread(publish_all, broker.port, [smoke(d, now, smoky) for d in alarms])
                    status = "firing" if smoky else "resolved"
                    await eventually(lambda st=status: len(alarm_events(events, alarms, st)) == 2, within=20)
                finally:
                    agent.terminate()
                    await asyncio.to_thread(agent.wait, 20)
    fired, resolved = alarm_events(events, alarms, "firing"), alarm_events(events, alarms, "resolved")
    assert {(d, 2) for d, _ in fired} == {(d, seq) for d, seq in resolved}
    assert {e["event_id"] for e in events.payloads() if e["status"] == "firing"} >= {
        e["event_id"] for e in events.payloads() if e["status"] == "resolved"
    }


def alarm_events(events: Collector, devices: list[str], status: str) -> list[tuple[str, int]]:
    return [
        (str(e["source"]["device_id"]), int(str(e["seq"])))  # type: ignore[index]
        for e in events.payloads()
        if e["category"] == "fire_safety.smoke_alarm" and e["status"] == status
        and e["source"]["device_id"] in devices  # type: ignore[index]
    ]  # fmt: skip
