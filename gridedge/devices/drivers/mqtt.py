"""MQTT JSON driver: subscribes to the topics of its devices' profiles and decodes what arrives.

`MqttRouter` is the pure part (topic -> device -> readings, with counters); `MqttDriver` owns the
connection. Every bad message gives one log line naming the topic or device and the field, is
counted by reason, and never stops the messages of other devices.
"""

from __future__ import annotations

import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from gridedge.devices.binding import DeviceBinding
from gridedge.devices.decode import CompiledProfile, decode_json
from gridedge.devices.drivers.mqtt_wire import MqttWireError, SubscriberSession
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.clock import Clock
from gridedge.edge.reading import Reading
from gridedge.edge.reconnect import keep_connected

log = logging.getLogger(__name__)

ReadingSink = Callable[[list[Reading]], Awaitable[None]]


class MqttRouter:
    def __init__(self, bindings: Sequence[DeviceBinding]) -> None:
        self.counters: Counter[str] = Counter()
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
        self.subscriptions = sorted({c.transport.subscription() for _, c in mine})

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


class MqttDriver:
    def __init__(
        self,
        broker: BrokerConfig,
        router: MqttRouter,
        sink: ReadingSink,
        clock: Clock,
        client_id: str,
    ) -> None:
        self._broker = broker
        self.router = router
        self._sink = sink
        self._clock = clock
        self._client_id = client_id
        self.connected = False

    async def run(self) -> None:
        """Receive until cancelled, reconnecting with backoff."""

        def down(_: BaseException) -> None:
            self.connected = False

        await keep_connected(self._session, f"southbound broker {self._broker.url}", (MqttWireError,), on_down=down)

    async def _session(self) -> None:
        b = self._broker
        session = SubscriberSession(
            b.host,
            b.port,
            self._client_id,
            username=b.username,
            password=b.password.get_secret_value() if b.password else None,
            tls=ssl.create_default_context() if b.tls else None,
            clean_session=False,  # messages sent while we were away are kept by the broker for us
        )
        try:
            await session.open(self.router.subscriptions, qos=1)
            self.connected = True
            log.info("southbound: subscribed to %s on %s", ", ".join(self.router.subscriptions), b.url)
            while True:
                readings = self.router.route_batch(await session.receive(), self._clock.now())
                if readings:
                    await self._sink(readings)  # waits while the rules are behind: back-pressure
                session.ack()  # QoS 1: the broker forgets them only once they are ours
        finally:
            await session.close()
