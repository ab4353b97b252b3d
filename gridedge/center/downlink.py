"""The way back to the gateway: when an officer acknowledges (verifies) or closes a case, the gateway
that raised it can be told, so the site's own display or siren knows the centre has it in hand.

The workflow depends only on the `Downlink` protocol. With `command_key_file` configured (the city's
command secret, hex, as the cloud bridge's credentials step writes it), the service wires
`MqttDownlink`: it signs each ack with that gateway's key (edge/command.py) when it publishes it (not
when it is queued, so an outage of the broker does not make it stale) at QoS 1 on
`gridedge/v1/cmd/{gateway_id}/ack`. Acks are advice to the site, never part of the case: they wait
in a bounded queue, and when it is full the oldest is dropped and counted (the case is already stored).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import aiomqtt

from gridedge.center.workflow import Action
from gridedge.edge.broker import BrokerConfig, TlsSettings, tls_context
from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.command import Command, CommandName, gateway_key, sign
from gridedge.edge.reconnect import cancel_if_requested, keep_connected

log = logging.getLogger(__name__)

QUEUE_BOUND = 1000

ACK_ACTIONS = frozenset({Action.VERIFY, Action.REJECT, Action.CLOSE})
"""Steps the gateway hears about: the case was taken in hand (or dismissed), and it was closed."""


@dataclass(frozen=True, slots=True)
class Ack:
    gateway_id: str
    event_id: str
    action: Action
    officer: str


class Downlink(Protocol):
    async def send(self, ack: Ack) -> None:
        """Deliver one ack; failures are the implementation's to retry, never the officer's."""
        ...


class NoDownlink:
    async def send(self, ack: Ack) -> None:
        return None


@dataclass
class RecordingDownlink:
    """Keeps what would be sent: for tests, and for a centre run without a command channel."""

    sent: list[Ack] = field(default_factory=list)

    async def send(self, ack: Ack) -> None:
        self.sent.append(ack)


class MqttDownlink:
    """Signs acks with each gateway's key and publishes them; `run` keeps the broker connection."""

    def __init__(
        self,
        broker: BrokerConfig,
        city_secret: bytes,
        client_id: str,
        *,
        tls: TlsSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._broker = broker
        self._tls = tls
        self._secret = city_secret
        self._client_id = client_id
        self._clock = clock or SystemClock()
        self._queue: deque[Ack] = deque()
        """Acks, signed when published: a command queued through an outage is not stale when it goes."""
        self._waiting = asyncio.Event()
        self.sent = 0
        self.dropped = 0

    def command(self, ack: Ack) -> Command:
        args = {"event_id": ack.event_id, "action": ack.action.value, "by": ack.officer}
        key = gateway_key(self._secret, ack.gateway_id)
        return sign(key, CommandName.ACK, ack.gateway_id, args, now=self._clock.now())

    async def send(self, ack: Ack) -> None:
        if len(self._queue) >= QUEUE_BOUND:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(ack)
        self._waiting.set()

    async def run(self) -> None:
        await keep_connected(self._session, f"downlink {self._broker.url}", (aiomqtt.MqttError,))

    async def _session(self) -> None:
        b = self._broker
        async with aiomqtt.Client(
            **b.connect_args(),
            identifier=self._client_id,
            tls_context=tls_context(b, self._tls),
        ) as client:
            while True:
                while self._queue:
                    command = self.command(self._queue[0])
                    await client.publish(command.topic, command.to_json(), qos=1)
                    self._queue.popleft()
                    self.sent += 1
                cancel_if_requested()  # a cancel lost in the client's own wait_for (Python 3.11) still ends this
                self._waiting.clear()
                await self._waiting.wait()
