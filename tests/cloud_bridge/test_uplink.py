"""The uplink against a real Mosquitto: everything put reaches the broker, in order, across outages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import aiomqtt
import pytest

from gridedge.cloud_bridge import Outbox, OutMessage, Uplink, UplinkState, event_message
from gridedge.cloud_bridge.downlink import Downlink
from gridedge.cloud_bridge.outbox import Bound
from gridedge.devtools.broker import MosquittoProcess, free_port
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.command import Command, CommandName, gateway_key, reply_topic, sign
from gridedge.edge.event import Severity
from gridedge.edge.reconnect import Backoff
from gridedge.edge.topics import status_topic
from tests.cloud_bridge.helpers import (
    GATEWAY,
    Collector,
    eventually,
    make_event,
    number_of,
    numbered,
)

pytestmark = pytest.mark.integration

EVENTS = "gridedge/v1/events/#"


def uplink_for(outbox: Outbox, port: int, *, backoff: Backoff | None = None, version: str | None = None) -> Uplink:
    return Uplink(outbox, BrokerConfig(host="127.0.0.1", port=port), GATEWAY, backoff=backoff, version=version)


@asynccontextmanager
async def running(uplink: Uplink) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_messages_put_before_the_uplink_starts_all_arrive_in_order(
    outbox: Outbox, broker: MosquittoProcess
) -> None:
    revisions = [event_message(make_event(seq=s)) for s in range(1, 51)]
    outbox.put_many(revisions)
    outbox.put_many([numbered(n) for n in range(1200)])  # more than one window
    async with Collector(broker.port, EVENTS) as sub:
        uplink = uplink_for(outbox, broker.port)
        async with running(uplink):
            await sub.wait_until(lambda: len(sub.messages) >= 1250)
            await eventually(lambda: outbox.depth() == 0)
            assert uplink.state is UplinkState.CONNECTED
    payloads = sub.payloads()
    assert [p["seq"] for p in payloads[:50]] == list(range(1, 51))
    assert [p["n"] for p in payloads[50:]] == list(range(1200))
    assert sub.messages[0].topic.value == revisions[0].topic
    assert uplink.published == 1250
    assert uplink.state is UplinkState.DISCONNECTED


async def test_notify_sends_at_once_instead_of_at_the_next_poll(outbox: Outbox, broker: MosquittoProcess) -> None:
    async with Collector(broker.port, EVENTS) as sub:
        uplink = uplink_for(outbox, broker.port)
        async with running(uplink):
            await eventually(lambda: uplink.state is UplinkState.CONNECTED)
            await asyncio.sleep(0.1)  # let it settle into waiting for work
            put_at = time.monotonic()
            outbox.put(numbered(1))
            uplink.notify()
            await sub.wait_until(lambda: len(sub.messages) == 1)
            assert time.monotonic() - put_at < 0.5


async def test_every_message_arrives_across_a_broker_restart(
    outbox: Outbox, persistent_broker: MosquittoProcess
) -> None:
    broker, total = persistent_broker, 600
    async with Collector(broker.port, EVENTS) as sub:
        uplink = uplink_for(outbox, broker.port, backoff=Backoff(initial=0.1, maximum=1.0))
        async with running(uplink):
            for n in range(0, total, 10):
                await asyncio.to_thread(outbox.put_many, [numbered(i) for i in range(n, n + 10)])
                uplink.notify()
                if n == 200:
                    await asyncio.to_thread(broker.stop)
                if n == 400:
                    await asyncio.sleep(0.3)  # an outage long enough to back off a few times
                    await asyncio.to_thread(broker.start)
                await asyncio.sleep(0.002)
            await sub.wait_until(lambda: {number_of(m) for m in sub.messages} == set(range(total)))
            await eventually(lambda: outbox.depth() == 0)
    first_arrivals = list(dict.fromkeys(number_of(m) for m in sub.messages))
    assert first_arrivals == list(range(total)), "a retry must not overtake what it follows"
    assert uplink.reconnects >= 1
    assert uplink.last_error is not None


async def test_without_a_broker_nothing_leaves_the_outbox_and_stop_is_prompt(outbox: Outbox) -> None:
    outbox.put_many([numbered(n) for n in range(5)])
    uplink = uplink_for(outbox, free_port(), backoff=Backoff(initial=0.05, maximum=0.1))
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    await eventually(lambda: uplink.reconnects >= 3)
    assert uplink.state is UplinkState.DISCONNECTED
    assert uplink.last_error is not None
    assert outbox.depth() == 5
    stopped_at = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 2)
    assert time.monotonic() - stopped_at < 0.5


async def test_presence_is_retained_online_then_offline_on_a_clean_stop(
    outbox: Outbox, broker: MosquittoProcess
) -> None:
    topic = status_topic(GATEWAY)
    uplink = uplink_for(outbox, broker.port, version="9.9.9")
    async with Collector(broker.port, topic, persistent=False, client_id="watch") as sub:
        async with running(uplink):
            await sub.wait_until(lambda: any(p["state"] == "online" for p in sub.payloads()))
        await sub.wait_until(lambda: sub.payloads()[-1]["state"] == "offline")
    online, offline = sub.payloads()[0], sub.payloads()[-1]
    assert online["gateway_id"] == GATEWAY
    assert online["version"] == "9.9.9"
    assert "ts" in online
    assert offline["reason"] == "stopped"
    async with Collector(broker.port, topic, persistent=False, client_id="late") as late:
        await late.wait_until(lambda: len(late.messages) == 1)
    assert late.messages[0].retain
    assert late.payloads()[0]["state"] == "offline"


async def test_a_cancelled_uplink_still_says_offline(outbox: Outbox, broker: MosquittoProcess) -> None:
    """A supervisor that cancels instead of setting `stop` must not leave a retained `online` behind."""
    uplink = uplink_for(outbox, broker.port)
    async with Collector(broker.port, status_topic(GATEWAY), persistent=False, client_id="watch") as sub:
        task = asyncio.create_task(uplink.run(asyncio.Event()))
        await sub.wait_until(lambda: any(p["state"] == "online" for p in sub.payloads()))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await sub.wait_until(lambda: sub.payloads()[-1]["state"] == "offline")


async def test_the_heartbeat_repeats_queue_depth_version_and_what_the_full_outbox_dropped(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    with Outbox(tmp_path / "small.sqlite3", bound=Bound(max_messages=2)) as outbox:
        outbox.put_many([OutMessage(topic="gridedge/v1/x", payload=b"{}", severity=Severity.INFO) for _ in range(3)])
        uplink = Uplink(
            outbox, BrokerConfig(host="127.0.0.1", port=broker.port), GATEWAY, heartbeat_s=0.2, version="9.9.9"
        )
        watch = Collector(broker.port, status_topic(GATEWAY), persistent=False, client_id="watch")
        async with watch as sub, running(uplink):
            await sub.wait_until(lambda: sum(p["state"] == "online" for p in sub.payloads()) >= 3)
    beats = [p for p in sub.payloads() if p["state"] == "online"]
    assert beats[0]["version"] == "9.9.9"
    assert beats[0]["queue"] == {"depth": 2, "dropped": {"info": 1}, "set_aside": 0}
    assert beats[-1]["queue"] == {"depth": 0, "dropped": {"info": 1}, "set_aside": 0}


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_a_command_sent_while_the_gateway_was_away_is_answered_when_it_returns(
    outbox: Outbox, broker: MosquittoProcess, protocol: Literal["3.1.1", "5"]
) -> None:
    """The persistent session (MQTT 5: clean start off and a session expiry) keeps the command queued."""
    key = gateway_key(b"city", GATEWAY)
    downlink = Downlink(GATEWAY, key, {CommandName.PING: pong})
    link = BrokerConfig(host="127.0.0.1", port=broker.port)
    uplink = Uplink(outbox, link, GATEWAY, protocol=protocol, downlink=downlink)
    async with running(uplink):  # first visit: the session and its subscription are made
        await eventually(lambda: uplink.state is UplinkState.CONNECTED)
        await asyncio.sleep(0.2)
    command = sign(key, CommandName.PING, GATEWAY, now=time.time())
    replies = reply_topic(GATEWAY, "ping")
    async with Collector(broker.port, replies, persistent=False, client_id="officer") as sub:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="centre") as centre:
            await centre.publish(command.topic, command.to_json(), qos=1)
        async with running(Uplink(outbox, link, GATEWAY, protocol=protocol, downlink=downlink)):
            await sub.wait_until(lambda: len(sub.messages) == 1)
    assert sub.payloads()[0]["nonce"] == command.nonce
    assert sub.payloads()[0]["ok"] is True


async def pong(command: Command) -> dict[str, object]:
    return {}
