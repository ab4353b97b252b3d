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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NoReturn

import aiomqtt

from gridedge import __version__
from gridedge.cloud_bridge.message import StoredMessage
from gridedge.cloud_bridge.outbox import Outbox
from gridedge.cloud_bridge.status import Presence, status_payload
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
        self._tls = ssl.create_default_context() if broker.tls else None
        self._status_topic = status_topic(gateway_id)
        self._wake = asyncio.Event()

        self.state = UplinkState.DISCONNECTED
        self.published = 0
        self.reconnects = 0
        self.last_error: str | None = None

    def notify(self) -> None:
        """New messages are in the outbox: send them now, not at the next poll. Call from the event loop."""
        self._wake.set()

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

    def _client(self) -> aiomqtt.Client:
        """A fresh client per connection: the outbox, not paho's memory, decides what is resent."""
        broker = self._broker
        will = aiomqtt.Will(
            self._status_topic,
            status_payload(Presence.OFFLINE, self.gateway_id, self.version, reason="lost"),
            qos=1,
            retain=True,
        )
        client = aiomqtt.Client(
            broker.host,
            broker.port,
            identifier=self.client_id,
            username=broker.username,
            password=broker.password.get_secret_value() if broker.password else None,
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=False,
            will=will,
            keepalive=self._keepalive,
            timeout=self._timeout,
            max_inflight_messages=self._window,
            tls_context=self._tls,
            logger=logging.getLogger(f"{__name__}.mqtt"),
        )
        # aiomqtt logs a warning for every publish beyond 10 outstanding; a full window is normal here.
        client.pending_calls_threshold = self._window + 1
        return client

    async def _say(self, client: aiomqtt.Client, presence: Presence, ack_within: float | None = None) -> None:
        reason = "stopped" if presence is Presence.OFFLINE else None
        payload = status_payload(presence, self.gateway_id, self.version, ts=self._clock.now(), reason=reason)
        await client.publish(self._status_topic, payload, qos=1, retain=True, timeout=ack_within)

    async def _pump(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        lost = asyncio.create_task(_until_lost(client), name="uplink-connection-watch")
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

    async def _deliver(
        self, client: aiomqtt.Client, batch: Sequence[StoredMessage], lost: asyncio.Task[NoReturn]
    ) -> None:
        """Publish `batch` concurrently, drop what the broker acknowledged, raise if anything was not."""
        sends = [
            asyncio.create_task(
                client.publish(s.message.topic, s.message.payload, qos=s.message.qos, retain=s.message.retain)
            )
            for s in batch
        ]
        try:
            race: list[asyncio.Future[Any]] = [asyncio.gather(*sends, return_exceptions=True), lost]
            await asyncio.wait(race, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for send in sends:
                send.cancel()  # no-op for the finished ones
        acked = [s.id for s, send in zip(batch, sends, strict=True) if _succeeded(send)]
        if acked:
            await asyncio.to_thread(self._outbox.remove, acked)
            self.published += len(acked)
        if len(acked) < len(batch):
            unacked = {s.id for s in batch} - set(acked)
            await asyncio.to_thread(self._outbox.record_attempt, sorted(unacked))
            raise _why_unacknowledged(sends, lost)

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


async def _until_lost(client: aiomqtt.Client) -> NoReturn:
    """Ends only by raising MqttError when the connection goes; until then it drains incoming messages
    (none yet: downlink commands will be read here)."""
    async for _message in client.messages:
        pass
    raise aiomqtt.MqttError("message stream ended")


def _succeeded(task: asyncio.Task[None]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None


def _why_unacknowledged(sends: Sequence[asyncio.Task[None]], lost: asyncio.Task[NoReturn]) -> BaseException:
    """The connection's own error if it broke, else the first failed publication's."""
    for task in (lost, *sends):
        error = task.exception() if task.done() and not task.cancelled() else None
        if error is not None:
            return error
    return aiomqtt.MqttError("publication not acknowledged")
