"""The fleet stream: the mix it promises, device time that only goes forward, every alarm cleared."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime

import aiomqtt

from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.edge.broker import BrokerConfig
from gridedge.simulators.fleet import HOURLY_RATE, Fleet, FleetMix, inventory, publish
from tests.servers import Mosquitto


def test_the_stream_is_mostly_heartbeats_with_rare_alarms_each_cleared_by_the_next_message() -> None:
    mix = FleetMix(gateways=3, alarm_share=0.01)
    messages = list(Fleet(mix, seed=7).stream(30_000, 1_700_000_000_000))
    smoke = [m for m in messages if "/smoke/" in m.topic]
    alarms = [m for m in messages if m.alarm]
    assert 0.005 < len(alarms) / len(smoke) < 0.02
    assert len({m.gateway for m in messages}) == 3
    assert messages[-2].alarm  # the stream ends with an alarm raised and cleared: its last event trails all
    following: dict[str, bool] = {}
    for m in messages:
        doc = json.loads(m.payload)
        if "/smoke/" in m.topic:
            assert doc["state"]["smoke"] is m.alarm
            assert not (following.get(m.device) and m.alarm)  # never two alarms in a row: each is one incident
            following[m.device] = m.alarm
    assert not any(following.values())  # every alarm was cleared


def test_device_time_only_goes_forward_per_device() -> None:
    last: dict[str, int] = {}
    for m in Fleet(FleetMix(), seed=1).stream(5_000, 1_700_000_000_000, step_ms=0.1):
        ts = json.loads(m.payload)["ts"]
        assert ts >= last.get(m.device, 0)
        last[m.device] = ts


def test_the_evening_charging_peak_raises_more_alarms() -> None:
    def alarms(hour: int) -> int:
        fleet = Fleet(FleetMix(alarm_share=0.01), seed=3)
        return sum(fleet.next(1_700_000_000_000 + i, hour).alarm for i in range(20_000))

    assert alarms(20) > 2 * alarms(10)


def test_the_inventory_binds_to_the_built_in_profiles_and_covers_the_stream() -> None:
    mix = FleetMix(gateways=2)
    profiles = load_profiles([BUILTIN_PROFILES])
    devices = inventory(mix, gateway=1)
    assert Counter(d["profile"] for d in devices) == {"generic-smoke-alarm": 160, "ir-shopfront-sensor": 40}
    assert all(d["profile"] in profiles for d in devices)
    ids = {d["id"] for d in devices}
    assert {m.device for m in Fleet(mix, seed=2).stream(3_000, 0) if m.gateway == 1} <= ids


async def test_the_publisher_sends_the_stream_to_a_real_broker_at_its_rate(broker: Mosquitto) -> None:
    url = BrokerConfig.model_validate(broker.url)
    got: list[str] = []
    stop = asyncio.Event()
    async with aiomqtt.Client(url.host, url.port, identifier="fleet-listener") as client:
        await client.subscribe("bridge/smoke/+/up")
        await client.subscribe("shopfront/ir/+/state")

        async def listen() -> None:
            async for message in client.messages:
                got.append(message.topic.value)

        listener = asyncio.create_task(listen())
        sender = asyncio.create_task(publish(Fleet(FleetMix(), seed=4), url, 200.0, stop))
        await asyncio.sleep(2.0)
        stop.set()
        sent = await sender
        await asyncio.sleep(0.3)
        listener.cancel()
    hourly = HOURLY_RATE[datetime.now().hour] / HOURLY_RATE[12]
    assert 0.5 * 400 * hourly < sent < 1.5 * 400 * hourly
    assert len(got) == sent
    assert {t.split("/")[0] for t in got} == {"bridge", "shopfront"}
