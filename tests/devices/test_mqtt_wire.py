"""The bulk MQTT subscriber: the frame parser on every way a stream can be cut, and the session
against a real Mosquitto (credentials, persistent session, deferred QoS 1 acknowledgements in order,
keepalive while back-pressured, SUBACK refusals, session present, retained messages).
Random and hostile bytes from a broker: tests/security/test_southbound_fuzz.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import paho.mqtt.publish as publish
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridedge.devices.binding import bind
from gridedge.devices.drivers.mqtt import MqttRouter
from gridedge.devices.inventory import DeviceEntry, Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.edge.grid import Location
from gridedge.edge.mqtt_wire import (
    FrameParser,
    MalformedPacketError,
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
    frames = FrameParser(max_packet=1 << 29).feed(b"\xd0" + remaining_length(n))
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
        (b"\x36\x05\x00\x01a\x00\x01", "QoS 3"),
        (b"\x30\x05\x00\x02\xff\xfeX", "not UTF-8"),
        (b"\x30\x02\x00\x05", "PUBLISH of 2 bytes"),
        (b"\x30\x04\x00\x09ab", "topic longer than the packet"),
        (b"\x32\x04\x00\x01ab", "topic longer than the packet"),  # QoS 1 without room for its packet id
        (b"\x30\x04\x00\x01#x", "not a topic"),
        (b"\x30\x04\x00\x01\x00x", "not a topic"),
        (b"\x40\x02\x00\x01", "packet type 4"),  # a PUBACK: we never publish
        (b"\xd1\x00", "packet type 13 \\(flags 1\\)"),
        (b"\x00\x00", "packet type 0"),
        (b"\x20\x7f" + b"\x00" * 127, "packet type 2 of 127 bytes"),  # over max_packet=64
    ],
)
def test_malformed_frames_end_the_session_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(MalformedPacketError, match=why):
        FrameParser(max_packet=64).feed(data)


def test_retained_messages_are_kept_apart_from_fresh_ones() -> None:
    stream = publish_packet("a/1", b"old", 1, 7, retain=True) + publish_packet("a/1", b"new", 1, 8)
    frames = FrameParser().feed(stream)
    assert frames.retained == [("a/1", b"old")]
    assert frames.messages == [("a/1", b"new")]
    assert frames.acks == [b"\x00\x07", b"\x00\x08"]  # both acknowledged, in arrival order


@given(st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=60), st.sampled_from([0, 1]))
def test_an_oversize_publish_is_skipped_acknowledged_and_counted_however_it_is_cut(cuts: list[int], qos: int) -> None:
    stream = (
        publish_packet("dev/1", b"before", 1, 1)
        + publish_packet("dev/huge", b"x" * 20_000, qos, 2)
        + publish_packet("dev/1", b"after", 1, 3)
    )
    parser, got, acks, oversize, i = FrameParser(max_packet=1000), [], [], [], 0
    for size in cuts * (len(stream) // sum(cuts) + 1):
        frames = parser.feed(stream[i : i + size])
        got += frames.messages
        acks += frames.acks
        oversize += frames.oversize
        i += size
        if i >= len(stream):
            break
    assert got == [("dev/1", b"before"), ("dev/1", b"after")]
    assert oversize == ["dev/huge"]
    assert acks == [b"\x00\x01", *([b"\x00\x02"] if qos else []), b"\x00\x03"]


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
            got += (await session.receive()).messages
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
            assert (await receiving).messages == [(TOPIC, b"late")]
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


async def test_acknowledgements_wait_for_settle_and_go_out_in_delivery_order(broker: Mosquitto) -> None:
    session = await _session(broker.port)
    await asyncio.to_thread(_send, broker.port, b"1")
    first = await session.receive()
    await asyncio.to_thread(_send, broker.port, b"2")
    second = await session.receive()
    assert (first.messages, second.messages) == ([(TOPIC, b"1")], [(TOPIC, b"2")])
    session.settle(second.token)  # committed out of order: nothing may be acknowledged before "1" is
    await session.close()
    session = await _session(broker.port)
    assert await _receive_all(session, 2) == [(TOPIC, b"1"), (TOPIC, b"2")]
    session.ack()
    await session.close()
    session = await _session(broker.port)
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.5):
                await session.receive()  # both were acknowledged: nothing comes again
    finally:
        await session.close()


async def test_keepalive_holds_while_the_caller_is_back_pressured(broker: Mosquitto) -> None:
    session = await _session(broker.port)  # keepalive 2 s: the broker gives up after 3 s of silence
    try:
        await asyncio.to_thread(_send, broker.port, b"before")
        await asyncio.sleep(5)  # the rules are behind: nobody calls receive()
        await asyncio.to_thread(_send, broker.port, b"after")
        assert await _receive_all(session, 2) == [(TOPIC, b"before"), (TOPIC, b"after")]
    finally:
        await session.close()
    assert "exceeded timeout" not in (broker.workdir / "mosquitto.log").read_text()


async def test_session_present_is_reported(broker: Mosquitto) -> None:
    session = await _session(broker.port)
    await session.close()
    assert not session.session_present  # a new client id: the broker had nothing
    session = await _session(broker.port)
    await session.close()
    assert session.session_present


async def test_retained_state_comes_apart_from_fresh_messages(broker: Mosquitto) -> None:
    await asyncio.to_thread(
        publish.single, TOPIC, b"hours old", qos=1, retain=True, hostname="127.0.0.1", port=broker.port
    )
    session = await _session(broker.port)
    try:
        await asyncio.to_thread(_send, broker.port, b"fresh")
        retained: list[tuple[str, bytes]] = []
        fresh: list[tuple[str, bytes]] = []
        async with asyncio.timeout(10):
            while not fresh:
                delivery = await session.receive()
                retained += delivery.retained
                fresh += delivery.messages
        assert retained == [(TOPIC, b"hours old")]
        assert fresh == [(TOPIC, b"fresh")]
    finally:
        await session.close()


def test_retained_readings_count_only_with_the_devices_own_time() -> None:
    devices = [
        DeviceEntry(id=f"SA-{i}", profile="generic-smoke-alarm", key=f"v{i}", location=Location(site="x"))
        for i in range(2)
    ]
    router = MqttRouter(bind(Inventory(devices=devices), load_profiles([BUILTIN_PROFILES]), "inv"))
    readings = router.route_retained(
        [
            ("bridge/smoke/v0/up", b'{"ts": 1700000000000, "state": {"smoke": true}}'),  # state as of its time
            ("bridge/smoke/v1/up", b'{"state": {"smoke": true}}'),  # unknown age: not news
        ],
        received_at=1800000000.0,
    )
    assert [(r.device_id, r.point, r.value, r.ts) for r in readings] == [("SA-0", "smoke", True, 1700000000.0)]
    assert router.counters["rejected_retained_unstamped"] == 1
    assert router.counters["readings"] == 1
