"""A simulator's connection to its broker: kept up as a vendor bridge keeps it, whatever the broker does.

Every MQTT simulator runs its publishing loop as a `session` over one connected client. When the
broker goes away (a publish fails, a PUBACK never comes) the session ends with an `MqttError`, and
the loop starts again after a jittered backoff (the project's one policy, `edge.reconnect`). The
simulator keeps its own state (script position, heartbeat schedule, what is still unsent) outside
the session, so a reconnect continues the scenario instead of replaying it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiomqtt

from gridedge.edge.broker import BrokerConfig
from gridedge.edge.reconnect import Backoff, keep_connected

Session = Callable[[aiomqtt.Client], Awaitable[None]]


async def stay_connected(
    broker: BrokerConfig,
    client_id: str,
    session: Session,
    what: str,
    *,
    backoff: Backoff | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run `session` on a client connected to `broker`, reconnecting after every broker loss, until
    `session` returns, `stop` is set or the task is cancelled."""

    async def connected() -> None:
        async with aiomqtt.Client(
            **broker.connect_args(),
            identifier=client_id,
            tls_params=aiomqtt.TLSParameters() if broker.tls else None,
        ) as client:
            await session(client)

    await keep_connected(connected, f"{what}: broker {broker.url}", (aiomqtt.MqttError,), backoff=backoff, stop=stop)


async def publish(client: aiomqtt.Client, topic: str, payload: bytes, qos: int) -> None:
    """Publish, and honour a cancel that arrived while the broker acknowledged: Python 3.11's
    `wait_for` (inside aiomqtt's publish) returns the result instead of raising the cancel when
    both happen at once, and the simulator would carry on after being told to stop."""
    await client.publish(topic, payload, qos=qos)
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
