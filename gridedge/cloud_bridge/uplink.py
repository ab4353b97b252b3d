"""The uplink: drains the outbox to the broker over one MQTT connection, at least once and in order.

A message leaves the outbox only after the broker's PUBACK: aiomqtt's `publish` at QoS >= 1 returns
when paho calls `on_publish`, which paho does for QoS 1 only on PUBACK (QoS 2: PUBCOMP). Anything not
acknowledged when the connection breaks stays in the outbox and is sent again on the next connection,
so the centre may see a revision twice; it is idempotent on (event_id, seq), so that is correct.

Order: each batch is the oldest messages in outbox order, handed to paho in that order on one
connection, and a broker forwards QoS 1 messages of one publisher in the order it received them. A
retry resends from the oldest unacknowledged message, so first arrivals stay in order.

Presence: the retained status is `online` once connected, `offline` (stopped) on a clean stop or
cancellation, and the last will `offline` (lost) when the gateway vanishes without saying goodbye.
While online it is repeated every `heartbeat_s` (and at once after the full-outbox policy dropped
something) with the queue depth, what was dropped and what the broker refused.

MQTT 5: a broker may refuse one publication in its PUBACK (reason code >= 0x80, e.g. "not
authorized"). Such a message is refused for good, so it is set aside in the outbox with the reason
rather than retried forever in front of everything behind it. Under MQTT 3.1.1 Mosquitto acknowledges
and silently drops a publication its ACL refuses: use MQTT 5 to see refusals.

Latency: Nagle's algorithm is off on the client socket (TCP_NODELAY); the broker needs
`set_tcp_nodelay true` too (deploy/mosquitto/mosquitto.conf).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
import ssl
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Literal, NoReturn

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gridedge import __version__
from gridedge.cloud_bridge.downlink import Downlink
from gridedge.cloud_bridge.message import StoredMessage
from gridedge.cloud_bridge.outbox import Outbox
from gridedge.cloud_bridge.status import Presence, QueueReport, status_payload
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.reconnect import Backoff, keep_connected
from gridedge.edge.topics import status_topic

log = logging.getLogger(__name__)

POLL_S = 1.0
"""Safety net: look at the outbox this often even if nobody called `notify()`."""
STATUS_TIMEOUT_S = 5.0
"""How long a goodbye may delay a stop."""
DEFAULT_WINDOW = 200
"""Publications outstanding at once. Throughput is about window / round trip until the CPU limits it;
measured on loopback (aiomqtt 2.5, paho 2.2) 100-200 is the sweet spot (~5-6k msg/s) and larger
windows get slower: both libraries do per-acknowledgement work linear in what is outstanding. 200
outstanding still fills a 50-100 ms mobile link at 2-4k msg/s."""
MAX_WINDOW = 60_000
"""Below paho's 65,535 packet ids, leaving room for status publications."""
SESSION_EXPIRY_S = 7 * 24 * 3600
"""MQTT 5: how long the broker keeps this gateway's session (its command subscription) while offline."""


class UplinkState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class Uplink:
    """Publishes what the outbox holds, reconnecting with jittered backoff until told to stop.

    Wiring (the agent): write first, then tell, so nothing is announced before it is durable:
    `await asyncio.to_thread(outbox.put_many, messages)`, then `uplink.notify()`; run `uplink.run(stop)`
    as a named task; close the outbox only after `run` has returned.

    `state`, `published` (messages acknowledged by the broker), `reconnects` (attempts made after a
    failure) and `last_error` are read by health checks and metrics; only the uplink writes them.
    """

    def __init__(
        self,
        outbox: Outbox,
        broker: BrokerConfig,
        gateway_id: str,
        *,
        client_id: str | None = None,
        version: str | None = None,
        keepalive: int = 30,
        window: int = DEFAULT_WINDOW,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        clock: Clock | None = None,
        protocol: Literal["3.1.1", "5"] = "3.1.1",
        tls: ssl.SSLContext | None = None,
        heartbeat_s: float = 30.0,
        downlink: Downlink | None = None,
        report: Callable[[], Mapping[str, object]] | None = None,
    ) -> None:
        if not 1 <= window <= MAX_WINDOW:
            raise ValueError(f"window must be between 1 and {MAX_WINDOW}, got {window}")
        self._outbox = outbox
        self._broker = broker
        self.gateway_id = gateway_id
        self.client_id = client_id or f"gridedge-gw-{gateway_id}"
        self.version = version or __version__
        self._keepalive = keepalive
        self._window = window
        self._timeout = timeout
        self._backoff = backoff or Backoff()
        self._clock = clock or SystemClock()
        self._tls = tls or (ssl.create_default_context() if broker.tls else None)
        self._protocol = protocol
        self._heartbeat_s = heartbeat_s
        self._downlink = downlink
        self._report = report  # more for the online status: storage, held incidents, silences (the agent's)
        self._status_topic = status_topic(gateway_id)
        self._wake = asyncio.Event()
        self._status_due = asyncio.Event()

        self.state = UplinkState.DISCONNECTED
        self.published = 0
        self.reconnects = 0
        self.last_error: str | None = None

    def notify(self) -> None:
        """New messages are in the outbox: send them now, not at the next poll. Call from the event loop."""
        self._wake.set()

    def notify_status(self) -> None:
        """Something the status reports changed (the full-outbox policy dropped messages): say so now."""
        self._status_due.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set, then say `offline` and disconnect."""

        def down(exc: BaseException) -> None:
            self.last_error = _describe(exc)
            self.reconnects += 1

        await keep_connected(
            lambda: self._session(stop),
            f"uplink to {self._broker.url}",
            (aiomqtt.MqttError,),
            backoff=self._backoff,
            stop=stop,
            on_down=down,
        )

    async def _session(self, stop: asyncio.Event) -> None:
        """One connection, from CONNACK to loss (raises MqttError) or to a clean stop (returns)."""
        try:
            async with self._client() as client:
                self.state = UplinkState.CONNECTED
                log.info("uplink connected to %s as %s", self._broker.url, self.client_id)
                lost = False
                try:
                    if self._downlink is not None:
                        await client.subscribe(self._downlink.subscription, qos=1)
                    await self._say(client, Presence.ONLINE)
                    await self._pump(client, stop)
                except aiomqtt.MqttError:
                    lost = True
                    raise
                finally:
                    if not lost:
                        with contextlib.suppress(aiomqtt.MqttError):
                            await self._say(client, Presence.OFFLINE, ack_within=STATUS_TIMEOUT_S)
        finally:
            self.state = UplinkState.DISCONNECTED

    def _client(self) -> _Client:
        """A fresh client per connection: the outbox, not paho's memory, decides what is resent."""
        broker = self._broker
        will = aiomqtt.Will(
            self._status_topic,
            status_payload(Presence.OFFLINE, self.gateway_id, self.version, reason="lost"),
            qos=1,
            retain=True,
        )
        v5 = self._protocol == "5"
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho is untyped here
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        client = _Client(
            **broker.connect_args(),
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            clean_session=None if v5 else False,
            clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,  # paho refuses it under 3.1.1
            properties=properties,
            will=will,
            keepalive=self._keepalive,
            timeout=self._timeout,
            max_inflight_messages=self._window,
            tls_context=self._tls,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            logger=logging.getLogger(f"{__name__}.mqtt"),
        )
        # aiomqtt logs a warning for every publish beyond 10 outstanding; a full window is normal here.
        client.pending_calls_threshold = self._window + 1
        return client

    async def _say(self, client: aiomqtt.Client, presence: Presence, ack_within: float | None = None) -> None:
        reason = "stopped" if presence is Presence.OFFLINE else None
        queue = None
        if presence is Presence.ONLINE:
            queue = await asyncio.to_thread(self._queue_report)
        extra = self._report() if self._report is not None and presence is Presence.ONLINE else None
        payload = status_payload(
            presence, self.gateway_id, self.version, ts=self._clock.now(), reason=reason, queue=queue, extra=extra
        )
        await client.publish(self._status_topic, payload, qos=1, retain=True, timeout=ack_within)

    def _queue_report(self) -> QueueReport:
        outbox = self._outbox
        return QueueReport(depth=outbox.depth(), dropped=outbox.dropped(), set_aside=outbox.set_aside_count())

    async def _heartbeat(self, client: aiomqtt.Client) -> NoReturn:
        """Repeat the retained `online` status with fresh queue figures, and at once when they matter."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_due.wait(), self._heartbeat_s)
            self._status_due.clear()
            try:
                await self._say(client, Presence.ONLINE)
            except aiomqtt.MqttError as exc:  # a lost connection is noticed by the message stream
                log.warning("heartbeat not acknowledged: %s", _describe(exc))

    async def _pump(self, client: _Client, stop: asyncio.Event) -> None:
        lost = asyncio.create_task(self._until_lost(client), name="uplink-connection-watch")
        try:
            while not stop.is_set():
                self._wake.clear()  # before peeking, so a notify() during the peek is not lost
                batch = await asyncio.to_thread(self._outbox.peek, self._window)
                if batch:
                    await self._deliver(client, batch, lost)
                else:
                    await self._idle(stop, lost)
                if lost.done():
                    lost.result()
        finally:
            lost.cancel()
            if lost.done() and not lost.cancelled():
                lost.exception()  # retrieved, so asyncio does not report it as forgotten

    async def _until_lost(self, client: aiomqtt.Client) -> NoReturn:
        """Ends only by raising MqttError when the connection goes; meanwhile it keeps the heartbeat
        going and answers downlink commands."""
        heartbeat = asyncio.create_task(self._heartbeat(client), name="uplink-heartbeat")
        try:
            async for message in client.messages:
                if self._downlink is not None and isinstance(message.payload, bytes | bytearray):
                    reply = await self._downlink.handle(message.topic.value, bytes(message.payload))
                    await client.publish(reply.topic, reply.payload, qos=1)
            raise aiomqtt.MqttError("message stream ended")
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await heartbeat

    async def _deliver(self, client: _Client, batch: Sequence[StoredMessage], lost: asyncio.Task[NoReturn]) -> None:
        """Publish `batch` concurrently, drop what the broker acknowledged, set aside what it refused,
        raise if anything was not answered."""
        sends = [
            asyncio.create_task(
                client.publish_acked(s.message.topic, s.message.payload, s.message.qos, s.message.retain)
            )
            for s in batch
        ]
        try:
            race: list[asyncio.Future[Any]] = [asyncio.gather(*sends, return_exceptions=True), lost]
            await asyncio.wait(race, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for send in sends:
                send.cancel()  # no-op for the finished ones
        answered = [(s.id, send.result()) for s, send in zip(batch, sends, strict=True) if _succeeded(send)]
        refused = [(i, why) for i, why in answered if why is not None]
        for row_id, why in refused:
            log.error("broker refused outbox message %d: %s; set aside", row_id, why)
            await self._on_disk(self._outbox.set_aside, [row_id], why)
        if refused:
            self.notify_status()
        acked = [i for i, why in answered if why is None]
        if acked:
            self.published += len(acked)
            if not await self._on_disk(self._outbox.remove, acked):
                await asyncio.sleep(POLL_S)  # they stay and go again: the centre takes a revision once
        if len(answered) < len(batch):
            unacked = {s.id for s in batch} - {i for i, _ in answered}
            await self._on_disk(self._outbox.record_attempt, sorted(unacked))
            raise _why_unacknowledged(sends, lost)

    async def _on_disk(self, write: Callable[..., object], *args: object) -> bool:
        """An outbox write after delivery. A disk that refuses it (full, read-only) must not end the
        uplink: what was not removed is sent again later, and consumers are idempotent."""
        try:
            await asyncio.to_thread(write, *args)
        except (sqlite3.OperationalError, OSError) as exc:
            log.warning("outbox write after delivery failed (%s); retried later", exc)
            return False
        return True

    async def _idle(self, stop: asyncio.Event, lost: asyncio.Task[NoReturn]) -> None:
        waits = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait([*waits, lost], timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()


def _describe(exc: BaseException) -> str:
    """aiomqtt hides why a connection ended in the cause ("Disconnected during message iteration")."""
    text = f"{type(exc).__name__}: {exc}"
    return f"{text} ({exc.__cause__})" if exc.__cause__ is not None else text


def _succeeded(task: asyncio.Task[Any]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None


def _why_unacknowledged(sends: Sequence[asyncio.Task[Any]], lost: asyncio.Task[NoReturn]) -> BaseException:
    """The connection's own error if it broke, else the first failed publication's."""
    for task in (lost, *sends):
        error = task.exception() if task.done() and not task.cancelled() else None
        if error is not None:
            return error
    return aiomqtt.MqttError("publication not acknowledged")


class _Client(aiomqtt.Client):
    """aiomqtt's client plus what it drops: the MQTT 5 reason code of each PUBACK.

    `publish_acked` follows aiomqtt 2.5's own `publish` (its private `_pending_call` and `_wait_for`);
    a test with a refusing ACL guards this against a change of aiomqtt.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusals: dict[int, str] = {}

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Properties
    ) -> None:
        if reason_code.is_failure:
            self._refusals[mid] = str(reason_code)
        super()._on_publish(client, userdata, mid, reason_code, properties)

    async def publish_acked(self, topic: str, payload: bytes, qos: int, retain: bool) -> str | None:
        """Publish and wait for the broker's answer: None when accepted, else its refusal."""
        info = self._client.publish(topic, payload, qos, retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        if not info.is_published():
            confirmation = asyncio.Event()
            with self._pending_call(info.mid, confirmation, self._pending_publishes):
                await self._wait_for(confirmation.wait(), timeout=None)
        return self._refusals.pop(info.mid, None)
