"""Broker outages for integration tests: a real Mosquitto (persistence on) stopped and started again
on the same port, and a listener that rides through the outage on a persistent session."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from gridedge.edge.reconnect import Backoff, keep_connected
from tests.servers import Mosquitto, free_port


@contextlib.asynccontextmanager
async def restartable_broker(workdir: Path) -> AsyncIterator[Mosquitto]:
    """Mosquitto with persistence on and the project's default limits, stopped by the test."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    broker = Mosquitto(free_port(), workdir, persistence=True)
    await asyncio.to_thread(broker.start)
    try:
        yield broker
    finally:
        await asyncio.to_thread(broker.stop)


async def outage(broker: Mosquitto, seconds: float) -> float:
    """Stop the broker (SIGTERM: it saves its sessions, as on a service restart), keep it down for
    `seconds`, start it again on the same port; returns the monotonic time it was back."""
    await asyncio.to_thread(broker.stop)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(broker.start)
    return time.monotonic()


@dataclass
class Heard:
    topic: str
    payload: bytes
    at: float  # monotonic


@dataclass
class Listener:
    """Subscribes with a persistent session (clean session off, stable id) and reconnects, so it
    hears everything the broker queued for it while either side was away."""

    broker: Mosquitto
    topics: list[str]
    client_id: str = "test-listener"
    heard: list[Heard] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        await keep_connected(self._session, "test listener", (aiomqtt.MqttError,), backoff=Backoff(0.05, 0.5))

    async def _session(self) -> None:
        async with aiomqtt.Client(
            "127.0.0.1", self.broker.port, identifier=self.client_id, clean_session=False
        ) as client:
            for topic in self.topics:
                await client.subscribe(topic, qos=1)
            self.subscribed.set()
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                self.heard.append(Heard(message.topic.value, payload, time.monotonic()))

    async def wait_for(self, what: str, found: Callable[[list[Heard]], bool], timeout: float = 15) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not found(self.heard):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"not heard within {timeout} s: {what}") from None


@contextlib.asynccontextmanager
async def running(listener: Listener) -> AsyncIterator[Listener]:
    task = asyncio.create_task(listener.run(), name="test-listener")
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 10)
        yield listener
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
