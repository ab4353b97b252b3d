"""The bulk MQTT subscriber: the frame parser on every way a stream can be cut, and the session
against a real Mosquitto (credentials, persistent session, QoS 1 acknowledgements, keepalive)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import paho.mqtt.publish as publish
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridedge.devices.drivers.mqtt_wire import (
    FrameParser,
    MqttWireError,
    SubscriberSession,
    publish_packet,
    remaining_length,
)
from tests.cloud_bridge.secure import secured_mosquitto
from tests.servers import Mosquitto, mosquitto

topics = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"), min_size=1, max_size=40)
messages = st.lists(st.tuples(topics, st.binary(max_size=300), st.sampled_from([0, 1])), max_size=40)


@given(messages, st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=200))
def test_every_message_comes_out_once_in_order_however_the_stream_is_cut(
    sent: list[tuple[str, bytes, int]], cuts: list[int]
) -> None:
    stream = b"".join(publish_packet(t, p, q, packet_id=i + 1) for i, (t, p, q) in enumerate(sent))
    parser, got, acks, i = FrameParser(), [], [], 0
    for size in cuts * (len(stream) // max(1, sum(cuts)) + 1):
        frames = parser.feed(stream[i : i + size])
        got += frames.messages
        acks += frames.acks
        i += size
        if i >= len(stream):
            break
    assert got == [(t, p) for t, p, _ in sent]
    assert acks == [(i + 1).to_bytes(2, "big") for i, (_, _, q) in enumerate(sent) if q == 1]


@given(st.integers(min_value=0, max_value=268_435_455))
def test_remaining_length_round_trips(n: int) -> None:
    frames = FrameParser().feed(b"\xd0" + remaining_length(n))
    assert frames.control == [] or n == 0


def test_a_long_message_split_inside_its_length_bytes() -> None:
    packet = publish_packet("bridge/smoke/SA-1/up", b"x" * 20_000)
    parser = FrameParser()
    assert parser.feed(packet[:2]).messages == []  # header and half the remaining length
    assert parser.feed(packet[2:]).messages == [("bridge/smoke/SA-1/up", b"x" * 20_000)]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x30\xff\xff\xff\xff\x01", "remaining length"),
        (b"\x34\x05\x00\x01a\x00\x01", "QoS 2"),
        (b"\x30\x05\x00\x02\xff\xfeX", "not UTF-8"),
    ],
)
def test_malformed_frames_end_the_session_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(MqttWireError, match=why):
        FrameParser().feed(data)


# -- against a real Mosquitto ------------------------------------------------------------------------
TOPIC = "bridge/smoke/SA-0001/up"


def _send(port: int, *payloads: bytes, qos: int = 1) -> None:
    publish.multiple([{"topic": TOPIC, "payload": p, "qos": qos} for p in payloads], hostname="127.0.0.1", port=port)


async def _session(port: int, **kwargs: object) -> SubscriberSession:
    session = SubscriberSession("127.0.0.1", port, "gw-wire-test", keepalive=2, **kwargs)  # type: ignore[arg-type]
    await session.open(["bridge/smoke/+/up"], qos=1)
    return session


async def _receive_all(session: SubscriberSession, count: int) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    async with asyncio.timeout(10):
        while len(got) < count:
            got += await session.receive()
    return got


async def test_a_persistent_session_gets_what_was_sent_while_it_was_away(broker: Mosquitto) -> None:
    session = await _session(broker.port)
    await session.close()
    await asyncio.to_thread(_send, broker.port, b"1", b"2", b"3")
    session = await _session(broker.port)
    try:
        assert await _receive_all(session, 3) == [(TOPIC, b"1"), (TOPIC, b"2"), (TOPIC, b"3")]
    finally:
        await session.close()


async def test_qos1_messages_not_acknowledged_come_again_and_acknowledged_ones_do_not(broker: Mosquitto) -> None:
    session = await _session(broker.port)
    await asyncio.to_thread(_send, broker.port, b"first")
    assert await _receive_all(session, 1) == [(TOPIC, b"first")]
    await session.close()  # never acknowledged: the broker must send it again
    session = await _session(broker.port)
    assert await _receive_all(session, 1) == [(TOPIC, b"first")]
    session.ack()
    await session.close()
    await asyncio.to_thread(_send, broker.port, b"second")
    session = await _session(broker.port)
    try:
        assert await _receive_all(session, 1) == [(TOPIC, b"second")]  # "first" is gone: it was acknowledged
    finally:
        await session.close()


async def test_keepalive_pings_hold_a_quiet_session_open(broker: Mosquitto) -> None:
    session = await _session(broker.port)
    try:
        receiving = asyncio.create_task(session.receive())
        await asyncio.sleep(5)  # 2.5 keepalive periods with nothing to read: only pings go out
        assert not receiving.done()
        await asyncio.to_thread(_send, broker.port, b"late")
        async with asyncio.timeout(5):
            assert await receiving == [(TOPIC, b"late")]
    finally:
        await session.close()


async def test_refused_credentials_are_named(tmp_path: Path) -> None:
    with secured_mosquitto(tmp_path, "") as port:
        session = SubscriberSession("127.0.0.1", port, "gw-wire-test", username="nobody", password="wrong")
        with pytest.raises(MqttWireError, match=f"127.0.0.1:{port} refused the connection: not authorised"):
            await session.open(["bridge/smoke/+/up"])
        await session.close()


async def test_a_broker_that_goes_away_ends_the_session_with_an_error(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as b:
        session = await _session(b.port)
        b.stop()
        with pytest.raises(MqttWireError, match=r"closed the connection|Connection reset"):
            async with asyncio.timeout(10):
                await session.receive()
        await session.close()
