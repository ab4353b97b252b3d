"""The southbound subscriber's side of MQTT 3.1.1, parsed in bulk: the agent's ingest hot path.

Why not paho here (it is used everywhere else): paho reads every packet with three `recv` calls,
takes two locks, walks a topic trie and builds an MQTTMessage per message. Profiled on the 2-core
reference machine, that alone caps one process at about 30,000 messages/s before any decoding, so a
gateway could not keep up with a city block's devices, let alone beat a Node-RED flow. This session
reads whatever the socket holds (up to 64 KiB at once), cuts every complete PUBLISH out of it in one
loop and hands the batch over at once, so the per-message cost is a few slices.

Scope is exactly what a subscriber needs: CONNECT (credentials, persistent session), SUBSCRIBE at
QoS 0/1, PUBLISH in at QoS 0/1 with PUBACKs written after the batch was handed over (at-least-once
into the rules), keepalive PINGREQ with a dead-broker timeout, DISCONNECT. Anything else from the
broker (QoS 2, a malformed frame) ends the session with an error naming it, and the driver reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

READ_CHUNK = 64 * 1024  # about 400 device messages: a few ms of decoding per turn of the event loop
TOPIC_CACHE = 100_000  # distinct topics kept decoded (one per device); cleared when exceeded

CONNACK_REFUSED = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class MqttWireError(Exception):
    """The session cannot go on: refused, lost, timed out or sent something a subscriber cannot take."""


# -- encoding (also used by the benchmark's load generator) -------------------------------------------
def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return len(raw).to_bytes(2, "big") + raw


def _packet(header: int, body: bytes) -> bytes:
    return bytes([header]) + remaining_length(len(body)) + body


def connect_packet(
    client_id: str,
    *,
    clean_session: bool = True,
    keepalive: int = 60,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    flags = (0x02 if clean_session else 0) | (0x80 if username is not None else 0) | (0x40 if password else 0)
    body = _string("MQTT") + bytes([4, flags]) + keepalive.to_bytes(2, "big") + _string(client_id)
    if username is not None:
        body += _string(username)
    if password:
        body += _string(password)
    return _packet(0x10, body)


def subscribe_packet(packet_id: int, topics: Iterable[str], qos: int = 1) -> bytes:
    body = packet_id.to_bytes(2, "big") + b"".join(_string(t) + bytes([qos]) for t in topics)
    return _packet(0x82, body)


def publish_packet(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0) -> bytes:
    pid = packet_id.to_bytes(2, "big") if qos else b""
    return _packet(0x30 | qos << 1, _string(topic) + pid + payload)


PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


# -- decoding ------------------------------------------------------------------------------------------
@dataclass
class Frames:
    """What one pass over the buffer found: messages in arrival order, and the control packets."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    acks: list[bytes] = field(default_factory=list)  # packet ids of QoS 1 messages, to PUBACK
    control: list[tuple[int, bytes]] = field(default_factory=list)  # (packet type, body) of the rest


class FrameParser:
    """Cuts complete MQTT packets out of a byte stream fed in arbitrary pieces."""

    def __init__(self) -> None:
        self._buf = b""
        self._topics: dict[bytes, str] = {}

    def feed(self, data: bytes) -> Frames:
        buf = self._buf + data if self._buf else data
        n = len(buf)
        out = Frames()
        messages, acks, topics = out.messages, out.acks, self._topics
        i = 0
        while i + 2 <= n:
            header = buf[i]
            length, j, shift = 0, i + 1, 0
            while True:  # remaining length: up to 4 bytes, 7 bits each
                if j >= n:
                    self._buf = buf[i:]
                    return out
                byte = buf[j]
                j += 1
                length |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise MqttWireError("malformed packet from the broker: remaining length over 4 bytes")
            end = j + length
            if end > n:
                break
            if header >> 4 == 3:  # PUBLISH
                qos = (header >> 1) & 3
                k = j + 2 + ((buf[j] << 8) | buf[j + 1])
                raw = buf[j + 2 : k]
                topic = topics.get(raw)
                if topic is None:
                    topic = self._topic(raw)
                if qos:
                    if qos == 2:
                        raise MqttWireError(f"broker sent a QoS 2 message on {topic} to a QoS 1 subscription")
                    acks.append(buf[k : k + 2])
                    k += 2
                messages.append((topic, buf[k:end]))
            else:
                out.control.append((header >> 4, buf[j:end]))
            i = end
        self._buf = buf[i:]
        return out

    def _topic(self, raw: bytes) -> str:
        try:
            topic = raw.decode()
        except UnicodeDecodeError as exc:
            raise MqttWireError(f"malformed packet from the broker: topic is not UTF-8 ({exc})") from exc
        if len(self._topics) >= TOPIC_CACHE:
            self._topics.clear()
        self._topics[raw] = topic
        return topic


# -- the session ---------------------------------------------------------------------------------------
class SubscriberSession:
    """One connection: `open()` connects and subscribes, `receive()` returns the next batch of messages
    (acknowledged by `ack()` once they are safe), `close()` says goodbye."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        clean_session: bool = False,
        keepalive: int = 30,
    ) -> None:
        self._where = f"{host}:{port}"
        self._host, self._port, self._tls = host, port, tls
        self._connect = connect_packet(
            client_id, clean_session=clean_session, keepalive=keepalive, username=username, password=password
        )
        self._keepalive = keepalive
        self._parser = FrameParser()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: list[tuple[int, bytes]] = []  # control packets not yet asked for
        self._early = Frames()  # messages a persistent session delivered before the SUBACK
        self._unacked: list[bytes] = []
        self._last_sent = self._last_heard = time.monotonic()
        self._next_id = 0

    async def open(self, topics: list[str], qos: int = 1, wait_s: float = 10.0) -> None:
        try:
            async with asyncio.timeout(wait_s):
                self._reader, self._writer = await asyncio.open_connection(
                    self._host, self._port, ssl=self._tls, limit=READ_CHUNK
                )
            self._send(self._connect)
            connack = await self._expect(2, wait_s)
            if len(connack) != 2 or connack[1] != 0:
                code = connack[1] if len(connack) == 2 else -1
                raise MqttWireError(f"broker {self._where} refused the connection: {CONNACK_REFUSED.get(code, code)}")
            if topics:
                self._send(subscribe_packet(self._packet_id(), topics, qos))
                granted = (await self._expect(9, wait_s))[2:]
                refused = [t for t, code in zip(topics, granted, strict=False) if code == 0x80]
                if refused:
                    raise MqttWireError(f"broker {self._where} refused the subscription to {', '.join(refused)}")
        except (OSError, TimeoutError) as exc:
            raise MqttWireError(f"broker {self._where}: {exc or type(exc).__name__}") from exc

    async def receive(self) -> list[tuple[str, bytes]]:
        """The next non-empty batch of (topic, payload), in arrival order; pings the broker when quiet."""
        if self._early.messages:
            frames, self._early = self._early, Frames()
            self._unacked = frames.acks
            return frames.messages
        while True:
            got = await self._read(self._keepalive / 2)
            self._ping_if_quiet()
            if got is None:
                if time.monotonic() - self._last_heard > self._keepalive * 1.5:
                    raise MqttWireError(f"broker {self._where}: nothing heard for {self._keepalive * 1.5:.0f} s")
                continue
            if got.messages:
                self._unacked = got.acks
                return got.messages

    def ack(self) -> None:
        """Acknowledge the QoS 1 messages of the last batch: call once they are handed over."""
        if self._unacked:
            self._send(b"".join(b"\x40\x02" + pid for pid in self._unacked))
            self._unacked = []

    async def close(self) -> None:
        if self._writer is None:
            return
        with contextlib.suppress(OSError, RuntimeError):
            self._writer.write(DISCONNECT)
            await self._writer.drain()
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self._writer.wait_closed()
        self._writer = None

    # -- internals -------------------------------------------------------------------------------------
    def _ping_if_quiet(self) -> None:
        if time.monotonic() - self._last_sent >= self._keepalive / 2:
            self._send(PINGREQ)

    def _send(self, data: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise MqttWireError(f"broker {self._where}: connection closed")
        self._writer.write(data)
        self._last_sent = time.monotonic()

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    async def _read(self, wait_s: float) -> Frames | None:
        assert self._reader is not None
        try:
            async with asyncio.timeout(wait_s):
                data = await self._reader.read(READ_CHUNK)
        except TimeoutError:
            return None
        except OSError as exc:
            raise MqttWireError(f"broker {self._where}: {exc or type(exc).__name__}") from exc
        if not data:
            raise MqttWireError(f"broker {self._where} closed the connection")
        self._last_heard = time.monotonic()
        frames = self._parser.feed(data)
        for kind, body in frames.control:
            if kind in (2, 9):  # CONNACK, SUBACK: someone is waiting in _expect
                self._pending.append((kind, body))
            elif kind != 13:  # PINGRESP only proves the broker is there
                raise MqttWireError(f"broker {self._where} sent packet type {kind}, which a subscriber never gets")
        return frames

    async def _expect(self, kind: int, wait_s: float) -> bytes:
        """The body of the next control packet of this type (messages before it are kept for receive)."""
        deadline = time.monotonic() + wait_s
        while True:
            for i, (k, body) in enumerate(self._pending):
                if k == kind:
                    del self._pending[i]
                    return body
            left = deadline - time.monotonic()
            frames = await self._read(left) if left > 0 else None
            if frames is None:
                raise MqttWireError(f"broker {self._where}: no answer (packet type {kind}) within {wait_s} s")
            self._early.messages.extend(frames.messages)
            self._early.acks.extend(frames.acks)
