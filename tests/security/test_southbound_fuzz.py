"""A hostile or broken southbound broker: random and truncated MQTT packets never kill the client.

The broker here is fake on purpose (no real broker sends malformed packets): a tiny asyncio TCP
server on loopback that answers each connection with a script of real bytes: garbage, cut packets,
lying CONNACKs and SUBACKs, oversize packets, and now and then a well-behaved session that delivers
one device message. The real southbound driver (reconnect loop included) runs against it: every bad
session must end as a counted reconnect, and the good ones must still deliver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from gridedge.devices.binding import bind
from gridedge.devices.drivers.mqtt import MqttDriver, MqttRouter
from gridedge.devices.inventory import DeviceEntry, Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.clock import SystemClock
from gridedge.edge.grid import Location
from gridedge.edge.mqtt_wire import FrameParser, MqttWireError, publish_packet, remaining_length
from gridedge.edge.reading import Reading
from gridedge.edge.reconnect import Backoff

TOPIC = "bridge/smoke/vendor-0/up"
GOOD = json.dumps({"state": {"smoke": True}}).encode()
CONNACK_OK = b"\x20\x02\x00\x00"


def _valid_packets(rng: random.Random) -> bytes:
    """A few packets a broker may really send, to be cut and corrupted."""
    out = b""
    for _ in range(rng.randint(1, 5)):
        qos = rng.choice([0, 1])
        out += rng.choice(
            [
                publish_packet(TOPIC, rng.randbytes(rng.randint(0, 200)), qos, rng.randint(1, 65535)),
                b"\xd0\x00",
                b"\x90\x03\x00\x01\x01",
                CONNACK_OK,
            ]
        )
    return out


@given(st.binary(max_size=2000), st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=30))
@settings(max_examples=400)
def test_random_bytes_raise_only_the_clients_own_error(data: bytes, cuts: list[int]) -> None:
    parser, i = FrameParser(max_packet=512), 0
    try:
        for size in cuts * (len(data) // sum(cuts) + 1):
            parser.feed(data[i : i + size])
            i += size
            if i >= len(data):
                break
    except MqttWireError:
        pass  # a reconnect; anything else would escape the driver and stop the agent


@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=0, max_value=7))
@settings(max_examples=300)
def test_valid_packets_truncated_or_bit_flipped_raise_only_the_clients_own_error(seed: int, flips: int) -> None:
    rng = random.Random(seed)
    stream = bytearray(_valid_packets(rng))
    for _ in range(flips):
        stream[rng.randrange(len(stream))] ^= 1 << rng.randrange(8)
    stream = stream[: rng.randint(0, len(stream))]
    with contextlib.suppress(MqttWireError):  # a reconnect; anything else would stop the agent
        FrameParser(max_packet=512).feed(bytes(stream))


# -- the fuzzing broker --------------------------------------------------------------------------------
def _suback(body: bytes) -> bytes:
    return b"\x90" + remaining_length(len(body)) + body


def _scripts(rng: random.Random) -> list[bytes | None]:
    """What the broker answers to each connection; None: a good session that delivers GOOD."""
    return [
        rng.randbytes(rng.randint(0, 300)),  # noise instead of a CONNACK
        CONNACK_OK + rng.randbytes(rng.randint(1, 300)),  # noise instead of a SUBACK
        CONNACK_OK + _suback(b"\x00\x01\x01") + rng.randbytes(rng.randint(1, 300)),  # noise as messages
        CONNACK_OK + _suback(b"\x00\x01\x01") + _valid_packets(rng)[: rng.randint(1, 40)],  # cut short
        b"\x20\x02\x00\x05",  # connection refused: not authorised
        b"\x20\x03\x00\x00\x00",  # CONNACK of 3 bytes
        b"\x20\x02\x01\x00" + _suback(b"\x00\x02\x01"),  # "session present" is fine; a SUBACK for packet 2 not
        CONNACK_OK + _suback(b"\x00\x01\x80"),  # subscription refused
        CONNACK_OK + _suback(b"\x00\x01\x01\x01"),  # one code too many
        CONNACK_OK + _suback(b"\x00\x01\x05"),  # a code that does not exist
        CONNACK_OK + _suback(b"\x00\x01\x01") + b"\x30\xff\xff\xff\x7f",  # a 256 MB packet announced
        CONNACK_OK + _suback(b"\x00\x01\x01") + b"\x34" + publish_packet(TOPIC, b"{}")[1:],  # QoS 2
        CONNACK_OK + _suback(b"\x00\x01\x01") + CONNACK_OK,  # a second CONNACK
        CONNACK_OK + _suback(b"\x00\x01\x01") + b"\x30\x03\x00\x01\xff",  # topic not UTF-8
        None,
    ]


async def _fuzzing_broker(scripts: list[bytes | None], delivered: asyncio.Event) -> tuple[asyncio.Server, list[int]]:
    connections = [0]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = connections[0]
        connections[0] += 1
        script = scripts[index % len(scripts)]
        try:
            await reader.read(1024)  # the CONNECT
            if script is None:
                writer.write(CONNACK_OK)
                await reader.read(1024)  # the SUBSCRIBE (packet id 1)
                writer.write(_suback(b"\x00\x01\x01") + publish_packet(TOPIC, GOOD, 1, 42))
                await writer.drain()
                puback = await asyncio.wait_for(reader.read(1024), 5)
                if b"\x40\x02\x00\x2a" in puback:
                    delivered.set()
            else:
                writer.write(script)
                await writer.drain()
                await asyncio.sleep(0.01)
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, connections


def _router() -> MqttRouter:
    device = DeviceEntry(id="SA-0", profile="generic-smoke-alarm", key="vendor-0", location=Location(site="x"))
    return MqttRouter(bind(Inventory(devices=[device]), load_profiles([BUILTIN_PROFILES]), "inventory"))


def _sink(into: list[Reading]) -> Callable[[list[Reading]], Awaitable[None]]:
    async def put(readings: list[Reading]) -> None:
        into.extend(readings)

    return put


async def test_the_driver_survives_a_fuzzing_broker_and_still_delivers_from_good_sessions() -> None:
    rng = random.Random(20261203)
    scripts = [s for _ in range(6) for s in _scripts(rng)]  # 90 sessions, 6 of them good
    delivered = asyncio.Event()
    server, connections = await _fuzzing_broker(scripts, delivered)
    port = server.sockets[0].getsockname()[1]
    readings: list[Reading] = []
    router = _router()
    driver = MqttDriver(
        BrokerConfig(host="127.0.0.1", port=port),
        router,
        _sink(readings),
        SystemClock(),
        "gw-fuzz",
        keepalive=2,
        backoff=Backoff(initial=0.001, maximum=0.005),
    )
    running = asyncio.create_task(driver.run())
    try:
        async with asyncio.timeout(60):
            while connections[0] < len(scripts):
                assert not running.done(), running.exception()
                await asyncio.sleep(0.05)
        assert not running.done()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        server.close()
        await server.wait_closed()
    assert delivered.is_set()  # good sessions between the bad ones still delivered and acknowledged
    assert sum(r.point == "smoke" and r.value is True for r in readings) >= 5
    assert driver.reconnects >= len(scripts) - 6
    assert router.counters["rejected_malformed_packet"] >= 6 * 7  # the seven scripted lies, counted apart
