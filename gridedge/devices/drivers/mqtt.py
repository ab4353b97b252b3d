"""MQTT JSON driver: subscribes to the topics of its devices' profiles and decodes what arrives.

`MqttRouter` is the pure part (topic -> device -> readings, with counters); `MqttDriver` owns the
connection. Every bad message gives one log line naming the topic or device and the field, is
counted by reason, and never stops the messages of other devices.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from gridedge.devices.binding import DeviceBinding
from gridedge.devices.decode import CompiledProfile, decode_json
from gridedge.devices.drivers.mqtt_wire import (
    MAX_PACKET,
    Delivery,
    MalformedPacketError,
    MqttWireError,
    SubscriberSession,
)
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.clock import Clock
from gridedge.edge.reading import Reading
from gridedge.edge.reconnect import Backoff, keep_connected

log = logging.getLogger(__name__)

SETTLE_S = 10.0
"""On a clean stop, how long to wait for handed-over readings to be committed and acknowledged."""

ReadingSink = Callable[[list[Reading]], Awaitable["asyncio.Future[None] | None"]]
"""Takes a batch of readings; returns None (taken over for good) or a future done once committed."""
CommittedSink = Callable[[list[Reading]], Awaitable["asyncio.Future[None]"]]
"""Takes a batch of readings; returns a future done once their effects are committed."""


class MqttRouter:
    def __init__(self, bindings: Sequence[DeviceBinding], *, per_device: bool = False) -> None:
        """`per_device`: subscribe to each device's own topic rather than one filter per profile, for a
        session that hears only some of the devices on a topic pattern (a shard: gateway/shards.py)."""
        self.counters: Counter[str] = Counter()
        self._per_device = per_device
        self._by_topic: dict[str, tuple[str, CompiledProfile]] = {}
        self.subscriptions: list[str] = []
        self.rebind(bindings)

    def rebind(self, bindings: Sequence[DeviceBinding]) -> None:
        """Route to these devices from now on; devices of other transports are left to their drivers."""
        mine = [(b, b.compiled) for b in bindings if isinstance(b.compiled, CompiledProfile)]
        self._by_topic = {
            c.transport.topic_for(b.device.topic_key): (b.device.id, c) for b, c in mine if not c.transport.wildcard
        }
        # Topics with a `+` level (a network server's application id): matched by their fixed levels, then
        # the device found by the key level. Few patterns (one per profile), so a plain scan.
        patterns: dict[str, tuple[list[str], int, dict[str, tuple[str, CompiledProfile]]]] = {}
        for b, c in mine:
            if c.transport.wildcard:
                levels = c.transport.topic.split("/")
                entry = patterns.setdefault(c.transport.topic, (levels, c.transport.key_level, {}))
                entry[2][b.device.topic_key] = (b.device.id, c)
        self._patterns = list(patterns.values())
        if self._per_device:
            self.subscriptions = sorted({c.transport.topic_for(b.device.topic_key) for b, c in mine})
        else:
            self.subscriptions = sorted({c.transport.subscription() for _, c in mine})
        self._device_ids = [b.device.id for b, _ in mine]

    def device_ids(self) -> list[str]:
        """The devices heard through this router's subscriptions."""
        return list(self._device_ids)

    def _match(self, topic: str) -> tuple[str, CompiledProfile] | None:
        levels = topic.split("/")
        for template, key_level, devices in self._patterns:
            if len(levels) == len(template) and all(
                t in ("+", "{key}") or t == lv for t, lv in zip(template, levels, strict=True)
            ):
                found = devices.get(levels[key_level])
                if found is not None:
                    return found
        return None

    def route(self, topic: str, payload: bytes, received_at: float) -> list[Reading]:
        return self.route_batch([(topic, payload)], received_at)

    def route_batch(self, messages: Sequence[tuple[str, bytes]], received_at: float) -> list[Reading]:
        """The readings of these messages, in order; bad ones are logged and counted, never raised."""
        readings: list[Reading] = []
        by_topic = self._by_topic
        for topic, payload in messages:
            target = by_topic.get(topic)
            if target is None and self._patterns:
                target = self._match(topic)
            if target is None:
                self.counters["rejected_unknown_device"] += 1
                log.warning("topic %s: no device in the inventory publishes here; message dropped", topic)
                continue
            device_id, compiled = target
            decoded = decode_json(payload, compiled, device_id, received_at)
            if decoded.problems:
                self.counters["rejected_fields"] += len(decoded.problems)
                log.warning("device %s (topic %s): %s", device_id, topic, "; ".join(decoded.problems))
            readings += decoded.readings
        self.counters["messages"] += len(messages)
        self.counters["readings"] += len(readings)
        return readings

    def route_retained(self, messages: Sequence[tuple[str, bytes]], received_at: float) -> list[Reading]:
        """Retained messages are the last state the broker kept for a topic, sent because we
        subscribed: maybe hours old. Their readings count only with the device's own timestamp (the
        rules judge them by it); without one, their age is unknown and they are counted and dropped,
        so a stale alarm or a dead device's last heartbeat is never taken for news."""
        readings = self.route_batch(messages, received_at)
        stamped = [r for r in readings if r.ts is not received_at]  # decode_json's stand-in: this very object
        if len(stamped) < len(readings):
            self.counters["rejected_retained_unstamped"] += len({r.device_id for r in readings if r.ts is received_at})
            self.counters["readings"] -= len(readings) - len(stamped)
        return stamped


class MqttDriver:
    """The southbound MQTT session, reconnecting with backoff; readings go to `sink`.

    At least once into the rules: the sink may return a future that completes once the readings'
    effects are committed (decided, their events in the outbox); the messages that carried them are
    acknowledged to the broker only then, in order. A sink that returns None has taken them over
    for good, and they are acknowledged at once.
    """

    def __init__(
        self,
        broker: BrokerConfig,
        router: MqttRouter,
        sink: ReadingSink,
        clock: Clock,
        client_id: str,
        *,
        keepalive: int = 30,
        max_packet: int = MAX_PACKET,
        backoff: Backoff | None = None,
    ) -> None:
        self._broker = broker
        self.router = router
        self._sink = sink
        self._clock = clock
        self._client_id = client_id
        self._keepalive = keepalive
        self._max_packet = max_packet
        self._backoff = backoff
        self._had_session = False
        self.settle_s = SETTLE_S
        self.connected = False
        self.reconnects = 0
        self.last_error: str | None = None

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Receive until cancelled, reconnecting with backoff; or until `stop` is set: then read no
        more, wait (up to `settle_s`) for what was handed over to be committed and acknowledged, and
        say goodbye, so a clean stop leaves the broker nothing to send again."""

        def down(exc: BaseException) -> None:
            self.connected = False
            self.reconnects += 1
            self.last_error = str(exc)
            if isinstance(exc, MalformedPacketError):
                self.router.counters["rejected_malformed_packet"] += 1

        await keep_connected(
            lambda: self._session(stop),
            f"southbound broker {self._broker.url}",
            (MqttWireError,),
            backoff=self._backoff,
            stop=stop,
            on_down=down,
        )

    async def _session(self, stop: asyncio.Event | None) -> None:
        b = self._broker
        session = SubscriberSession(
            b.host,
            b.port,
            self._client_id,
            username=b.username,
            password=b.password.get_secret_value() if b.password else None,
            tls=ssl.create_default_context() if b.tls else None,
            clean_session=False,  # messages sent while we were away are kept by the broker for us
            keepalive=self._keepalive,
            max_packet=self._max_packet,
        )
        try:
            await session.open(self.router.subscriptions, qos=1)
            self._check_session(session.session_present)
            self.connected = True
            log.info("southbound: subscribed to %s on %s", ", ".join(self.router.subscriptions), b.url)
            while (delivery := await _unless_stopped(session.receive(), stop)) is not None:
                await self._hand_over(session, delivery)
            await self._until_settled(session)
        finally:
            self.connected = False
            await session.close()

    async def _hand_over(self, session: SubscriberSession, delivery: Delivery) -> None:
        now = self._clock.now()
        for topic in delivery.oversize:
            self.router.counters["rejected_oversize"] += 1
            log.warning("topic %s: message over %d bytes; acknowledged and dropped", topic, self._max_packet)
        readings = self.router.route_retained(delivery.retained, now) if delivery.retained else []
        readings += self.router.route_batch(delivery.messages, now)
        committed = await self._sink(readings) if readings else None  # waits while the rules are behind
        if committed is None:
            session.settle(delivery.token)
        else:
            committed.add_done_callback(_settle_when_committed(session, delivery.token))

    async def _until_settled(self, session: SubscriberSession) -> None:
        if not await session.all_settled(self.settle_s):
            log.warning(
                "southbound: stopping with %d batches not committed; the broker sends them again", session.unsettled
            )

    def _check_session(self, present: bool) -> None:
        """A broker that lost our session (restarted without persistence, or expired it) also lost
        what it was holding for us: say so, it is the one gap at-least-once cannot cover."""
        if self._had_session and not present:
            self.router.counters["broker_session_lost"] += 1
            log.warning(
                "southbound broker %s had lost this gateway's session: messages queued meanwhile are gone",
                self._broker.url,
            )
        self._had_session = True


def _settle_when_committed(session: SubscriberSession, token: int) -> Callable[[asyncio.Future[None]], None]:
    def settle(committed: asyncio.Future[None]) -> None:
        if not committed.cancelled() and committed.exception() is None:
            session.settle(token)  # else never acknowledged: the broker sends them again

    return settle


async def _unless_stopped(receiving: Coroutine[Any, Any, Delivery], stop: asyncio.Event | None) -> Delivery | None:
    """The next delivery, or None once `stop` is set (nothing is lost: a receive cut short had read nothing)."""
    if stop is None:
        return await receiving
    if stop.is_set():
        receiving.close()
        return None
    task = asyncio.ensure_future(receiving)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return task.result() if not task.cancelled() else None
