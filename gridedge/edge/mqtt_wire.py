"""A subscriber's side of MQTT 3.1.1, parsed in bulk: the hot path of both ingests, the agent's
southbound (devices/drivers/mqtt.py) and the centre's (center/ingest.py). Only the stdlib, so any
package may use it.

Why not paho or aiomqtt here (they are used for publishing): paho reads every packet with three
`recv` calls, takes two locks, walks a topic trie and builds an MQTTMessage per message; aiomqtt adds
a future per message on top. `gridedge bench ingest` measures all three side by side
(`southbound_client_*`). This session reads whatever the socket holds (up to 64 KiB at once), cuts
every complete PUBLISH out of it in one loop and hands the batch over at once, so the per-message
cost is a few slices.

Scope is exactly what a subscriber needs, to the letter of MQTT 3.1.1:
- CONNACK checked (refusal named; "session present" recorded, and refused when it cannot be true);
- SUBACK checked: its packet id, one code per topic, and any refused subscription named;
- PUBLISH in at QoS 0/1. Retained ones (sent because we subscribed, so possibly hours old) are kept
  apart from fresh ones. A PUBLISH longer than `max_packet` is skipped without being buffered,
  acknowledged (or the broker would send it again forever) and counted;
- PUBACKs are deferred: each batch carries a token, and `settle(token)` says its effects are safe;
  PUBACKs go out for the longest settled prefix, in the order the PUBLISHes came;
- PINGREQ from its own task, so keepalive holds while the caller is back-pressured, and a broker
  that says nothing for 1.5 keepalives is taken for dead.
Anything else (QoS 2 towards a QoS 1 subscription, a malformed or unexpected packet) raises
`MqttWireError` naming it: the caller counts it and reconnects. No other exception escapes the
parser, whatever bytes arrive (tests/security/test_southbound_fuzz.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

READ_CHUNK = 64 * 1024  # about 400 device messages: a few ms of decoding per turn of the event loop
TOPIC_CACHE = 100_000  # distinct topics kept decoded (one per device); cleared when exceeded
MAX_PACKET = 1 << 20
"""Largest packet taken in, as deploy/mosquitto's `max_packet_size`: a device message is far smaller."""

CONNACK_REFUSED = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}
SUBACK_GRANTED = frozenset({0, 1, 2})
SUBACK_FAILURE = 0x80
CONNACK, PUBLISH, SUBACK, PINGRESP = 2, 3, 9, 13


class MqttWireError(Exception):
    """The session cannot go on: refused, lost, timed out or sent something a subscriber cannot take."""


class MalformedPacketError(MqttWireError):
    """The broker sent bytes that are not MQTT 3.1.1 a subscriber can take (counted apart)."""


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


def publish_packet(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0, *, retain: bool = False) -> bytes:
    pid = packet_id.to_bytes(2, "big") if qos else b""
    return _packet(0x30 | qos << 1 | retain, _string(topic) + pid + payload)


PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


# -- decoding ------------------------------------------------------------------------------------------
@dataclass
class Frames:
    """What one pass over the buffer found: messages in arrival order, and the control packets."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    retained: list[tuple[str, bytes]] = field(default_factory=list)  # state the broker kept, not news
    acks: list[bytes] = field(default_factory=list)  # packet ids of QoS 1 messages, to PUBACK
    control: list[tuple[int, bytes]] = field(default_factory=list)  # (packet type, body) of the rest
    oversize: list[str] = field(default_factory=list)  # topics of PUBLISHes skipped for their size

    def extend(self, other: Frames) -> None:
        self.messages += other.messages
        self.retained += other.retained
        self.acks += other.acks
        self.oversize += other.oversize


def _malformed(why: str) -> MalformedPacketError:
    return MalformedPacketError(f"malformed packet from the broker: {why}")


class FrameParser:
    """Cuts complete MQTT packets out of a byte stream fed in arbitrary pieces.

    Raises only MqttWireError; after one the stream is lost (the session reconnects)."""

    def __init__(self, max_packet: int = MAX_PACKET) -> None:
        self._buf = b""
        self._topics: dict[bytes, str] = {}
        self._skip = 0  # bytes of an oversize PUBLISH still to be thrown away
        self.max_packet = max_packet

    def feed(self, data: bytes) -> Frames:  # noqa: PLR0912, PLR0915 - the ingest hot path, inlined on purpose
        out = Frames()
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        buf = self._buf + data if self._buf else data
        n = len(buf)
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
                    raise _malformed("remaining length over 4 bytes")
            end = j + length
            kind = header >> 4
            if end - i > self.max_packet:
                if kind != PUBLISH:
                    raise _malformed(f"packet type {kind} of {length} bytes")
                if not self._skip_oversize(buf, header, j, end, out):
                    break  # its topic and packet id are not all here yet
                if end > n:  # the rest is thrown away as it arrives
                    self._buf = b""
                    return out
                i = end
                continue
            if end > n:
                break
            if kind == PUBLISH:
                if length < 3:
                    raise _malformed(f"PUBLISH of {length} bytes")
                k = j + 2 + ((buf[j] << 8) | buf[j + 1])
                qos = (header >> 1) & 3
                if k > end - (2 if qos else 0):
                    raise _malformed("PUBLISH topic longer than the packet")
                raw = buf[j + 2 : k]
                topic = topics.get(raw)
                if topic is None:
                    topic = self._topic(raw)
                if qos:
                    if qos == 3:
                        raise _malformed(f"PUBLISH on {topic} with QoS 3")
                    if qos == 2:
                        raise _malformed(f"QoS 2 message on {topic} to a QoS 1 subscription")
                    acks.append(buf[k : k + 2])
                    k += 2
                if header & 1:
                    out.retained.append((topic, buf[k:end]))
                else:
                    messages.append((topic, buf[k:end]))
            elif header & 0x0F or kind not in (CONNACK, SUBACK, PINGRESP):
                raise _malformed(f"packet type {kind} (flags {header & 0x0F}), which a subscriber never gets")
            else:
                out.control.append((kind, buf[j:end]))
            i = end
        self._buf = buf[i:]
        return out

    def _skip_oversize(self, buf: bytes, header: int, j: int, end: int, out: Frames) -> bool:
        """Take the topic and packet id of an oversize PUBLISH and throw away the rest of it, as it
        arrives. False when the bytes up to its packet id have not all arrived yet."""
        n = len(buf)
        if j + 2 > n:
            return False
        k = j + 2 + ((buf[j] << 8) | buf[j + 1])
        qos = (header >> 1) & 3
        if k + (2 if qos else 0) > n:
            return False
        if qos == 3:
            raise _malformed("PUBLISH with QoS 3")
        if qos == 2:
            raise _malformed("QoS 2 message to a QoS 1 subscription")
        topic = self._topic(buf[j + 2 : k])
        if qos:
            out.acks.append(buf[k : k + 2])
        out.oversize.append(topic)
        self._skip = max(0, end - n)
        return True

    def _topic(self, raw: bytes) -> str:
        try:
            topic = raw.decode()
        except UnicodeDecodeError as exc:
            raise _malformed(f"topic is not UTF-8 ({exc})") from exc
        if not topic or "\x00" in topic or "+" in topic or "#" in topic:
            raise _malformed(f"not a topic a message can have: {topic!r:.80}")
        if len(self._topics) >= TOPIC_CACHE:
            self._topics.clear()
        self._topics[raw] = topic
        return topic


# -- the session ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Delivery:
    """One batch as it came off the socket: `retained` (state the broker kept for the topic, possibly
    old) came before `messages`. Pass `token` to `settle` once what they carried is safe."""

    messages: list[tuple[str, bytes]]
    retained: list[tuple[str, bytes]]
    oversize: list[str]
    token: int


class SubscriberSession:
    """One connection: `open()` connects and subscribes, `receive()` returns the next batch,
    `settle()` acknowledges it once it is safe, `close()` says goodbye."""

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
        max_packet: int = MAX_PACKET,
    ) -> None:
        self._where = f"{host}:{port}"
        self._host, self._port, self._tls = host, port, tls
        self._clean = clean_session
        self._connect = connect_packet(
            client_id, clean_session=clean_session, keepalive=keepalive, username=username, password=password
        )
        self._keepalive = keepalive
        self._parser = FrameParser(max_packet)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._pending: list[tuple[int, bytes]] = []  # control packets not yet asked for
        self._early = Frames()  # messages a persistent session delivered before the SUBACK
        self._unsettled: deque[tuple[int, list[bytes]]] = deque()  # (token, packet ids), delivery order
        self._settled: set[int] = set()
        self._none_unsettled = asyncio.Event()
        self._none_unsettled.set()
        self._token = 0
        self._last_sent = self._last_heard = time.monotonic()
        self._next_id = 0
        self.session_present = False
        """From the CONNACK: the broker still had this client's session (its queued messages)."""

    async def open(self, topics: list[str], qos: int = 1, wait_s: float = 10.0) -> None:
        try:
            async with asyncio.timeout(wait_s):
                self._reader, self._writer = await asyncio.open_connection(
                    self._host, self._port, ssl=self._tls, limit=READ_CHUNK
                )
            self._send(self._connect)
            self._check_connack(await self._expect(CONNACK, wait_s))
            if topics:
                packet_id = self._packet_id()
                self._send(subscribe_packet(packet_id, topics, qos))
                self._check_suback(await self._expect(SUBACK, wait_s), packet_id, topics)
        except (OSError, TimeoutError) as exc:
            raise MqttWireError(f"broker {self._where}: {exc or type(exc).__name__}") from exc
        self._pinger = asyncio.create_task(self._keep_alive(), name=f"mqtt-keepalive-{self._where}")

    async def receive(self) -> Delivery:
        """The next non-empty batch, in arrival order; raises MqttWireError when the broker is gone."""
        if self._early.messages or self._early.retained or self._early.oversize:
            frames, self._early = self._early, Frames()
            return self._deliver(frames)
        while True:
            got = await self._read(self._keepalive / 2)
            if got is None:
                if time.monotonic() - self._last_heard > self._keepalive * 1.5:
                    raise MqttWireError(f"broker {self._where}: nothing heard for {self._keepalive * 1.5:.0f} s")
                continue
            if got.messages or got.retained or got.oversize:
                return self._deliver(got)

    def settle(self, token: int) -> None:
        """The batch `token` is safe: PUBACK it, and every earlier settled one, in delivery order.

        A batch settled after its session was closed is not acknowledged: the broker sends it again
        on the next connection (at least once)."""
        self._settled.add(token)
        ids: list[bytes] = []
        while self._unsettled and self._unsettled[0][0] in self._settled:
            done, acks = self._unsettled.popleft()
            self._settled.discard(done)
            ids += acks
        if not self._unsettled:
            self._none_unsettled.set()
        if ids and self._writer is not None and not self._writer.is_closing():
            self._send(b"".join(b"\x40\x02" + pid for pid in ids))

    @property
    def unsettled(self) -> int:
        """Batches delivered and not yet acknowledged."""
        return len(self._unsettled)

    async def all_settled(self, wait_s: float) -> bool:
        """Wait up to `wait_s` until every batch delivered was settled (and so acknowledged)."""
        try:
            async with asyncio.timeout(wait_s):
                await self._none_unsettled.wait()
        except TimeoutError:
            return False
        return True

    def ack(self) -> None:
        """Settle every batch delivered so far."""
        for token, _ in list(self._unsettled):
            self.settle(token)

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, MqttWireError):
                await self._pinger
            self._pinger = None
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        with contextlib.suppress(OSError, RuntimeError):
            writer.write(DISCONNECT)
            await writer.drain()
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()

    # -- internals -------------------------------------------------------------------------------------
    def _deliver(self, frames: Frames) -> Delivery:
        self._token += 1
        self._unsettled.append((self._token, frames.acks))
        self._none_unsettled.clear()
        return Delivery(frames.messages, frames.retained, frames.oversize, self._token)

    def _check_connack(self, body: bytes) -> None:
        if len(body) != 2 or body[0] & 0xFE:
            raise _malformed(f"CONNACK {body.hex()}")
        if body[1] != 0:
            raise MqttWireError(f"broker {self._where} refused the connection: {CONNACK_REFUSED.get(body[1], body[1])}")
        self.session_present = bool(body[0] & 1)
        if self.session_present and self._clean:
            raise _malformed("CONNACK says a session is present for a clean session")

    def _check_suback(self, body: bytes, packet_id: int, topics: list[str]) -> None:
        codes = body[2:]
        if len(body) < 3 or int.from_bytes(body[:2], "big") != packet_id or len(codes) != len(topics):
            raise _malformed(f"SUBACK {body.hex()[:80]} for {len(topics)} topics with packet id {packet_id}")
        if any(c not in SUBACK_GRANTED and c != SUBACK_FAILURE for c in codes):
            raise _malformed(f"SUBACK return codes {codes.hex()}")
        refused = [t for t, code in zip(topics, codes, strict=True) if code == SUBACK_FAILURE]
        if refused:
            raise MqttWireError(f"broker {self._where} refused the subscription to {', '.join(refused)}")

    async def _keep_alive(self) -> None:
        """PINGREQ whenever nothing was sent for half a keepalive, read or not."""
        while True:
            await asyncio.sleep(max(0.0, self._last_sent + self._keepalive / 2 - time.monotonic()))
            if time.monotonic() - self._last_sent >= self._keepalive / 2:
                if self._writer is None or self._writer.is_closing():
                    return
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
        if self._reader is None:
            raise MqttWireError(f"broker {self._where}: not connected")
        try:
            async with asyncio.timeout(wait_s):
                data = await self._reader.read(READ_CHUNK)
        except TimeoutError:
            return None
        except (OSError, ssl.SSLError) as exc:
            raise MqttWireError(f"broker {self._where}: {exc or type(exc).__name__}") from exc
        if not data:
            raise MqttWireError(f"broker {self._where} closed the connection")
        self._last_heard = time.monotonic()
        frames = self._parser.feed(data)
        for kind, body in frames.control:
            if kind == PINGRESP:  # only proves the broker is there
                continue
            if self._pinger is not None:  # open: nobody waits for a CONNACK or SUBACK any more
                raise _malformed(f"packet type {kind} out of turn")
            self._pending.append((kind, body))
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
            self._early.extend(frames)
