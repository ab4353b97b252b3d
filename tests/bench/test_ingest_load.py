"""The ingest benchmark's load: devices at QoS 1 through a real Mosquitto on the shipped limits, and
the paced streams' device time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import settings
from bench.load import Blaster
from bench.scenarios import ingest
from gridedge.devices.drivers.mqtt_wire import MqttWireError, SubscriberSession
from gridedge.devtools.broker import MosquittoProcess, free_port

MESSAGES = 20_000


def _shipped_max_queued() -> int:
    return int(str(settings.broker()["max_queued_messages"]))


async def _subscribe_and_leave(port: int) -> None:
    session = SubscriberSession("127.0.0.1", port, "behind")
    await session.open(ingest.TOPICS)
    await session.close()


async def _drain(port: int) -> int:
    """Reconnect the persistent session and take what the broker kept for it, acknowledging each batch."""
    session = SubscriberSession("127.0.0.1", port, "behind")
    await session.open(ingest.TOPICS)
    got = 0
    try:
        while True:
            delivery = await asyncio.wait_for(session.receive(), 1.0)
            got += len(delivery.messages)
            session.settle(delivery.token)
    except (TimeoutError, MqttWireError):
        pass
    await session.close()
    return got


@pytest.mark.integration
@pytest.mark.parametrize("max_queued", [1000, None], ids=["mosquitto-default", "shipped"])
def test_the_broker_acknowledges_every_qos1_message_and_keeps_them_only_up_to_its_queue(
    tmp_path: Path, max_queued: int | None
) -> None:
    broker = MosquittoProcess(free_port(), tmp_path, persistence=True, max_queued=max_queued or _shipped_max_queued())
    broker.start()
    try:
        asyncio.run(_subscribe_and_leave(broker.port))
        blaster = Blaster(broker.port, "devices")
        blaster.send(blaster.packets(ingest._pairs(ingest._paced_stream(50_000, MESSAGES / 50_000))[:MESSAGES]))
        assert blaster.wait_acked(30)
        assert blaster.acked == MESSAGES  # the publisher never hears of what the broker drops
        blaster.close()
        got = asyncio.run(_drain(broker.port))
    finally:
        broker.stop()
    assert got == (1000 if max_queued else MESSAGES)


def test_a_paced_stream_runs_on_in_device_time_and_leaves_no_alarm_raised() -> None:
    first = ingest._paced_stream(10_000, 2.0)
    second = ingest._paced_stream(20_000, 1.0)
    for stream in (first, second):
        raised: set[str] = set()
        for m in stream:
            (raised.add if m.alarm else raised.discard)(m.device)
        assert raised == set()
        assert stream[-2].alarm
        assert not stream[-1].alarm
    stamps = [ingest._ts(m) for m in first + second]
    assert stamps == sorted(stamps)
    assert ingest._ts(second[0]) > ingest._ts(first[-1])
    assert abs((ingest._ts(first[-3]) - ingest._ts(first[0])) - 2000) <= 1
    cut = next(n for n, m in enumerate(first) if m.alarm) + 1  # a step cut right after an alarm
    tail = ingest._tail(first[:cut], ingest._ts(first[cut - 1]) + 1)
    assert first[cut - 1].device in {m.device for m in tail[:-2] if not m.alarm}
    assert tail[-2].alarm
    assert not tail[-1].alarm
