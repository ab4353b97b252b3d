"""Test helpers for the cloud bridge: grid events, a persistent broker, and a subscriber that reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import aiomqtt

from gridedge.cloud_bridge import OutMessage
from gridedge.edge.event import EventStatus, GridEvent, Severity, Source
from gridedge.edge.grid import GridCell, GridUnit, Location

GATEWAY = "gw-test-01"


def make_event(event_id: str = "evt-00000001", seq: int = 1, severity: Severity = Severity.CRITICAL) -> GridEvent:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    return GridEvent(
        event_id=event_id,
        seq=seq,
        status=EventStatus.FIRING if seq == 1 else EventStatus.UPDATE,
        dedup_key=f"smoke:{event_id}",
        category="fire_safety.smoke_alarm",
        severity=severity,
        title="Smoke alarm",
        grid=GridCell(
            district=GridUnit(code="d1"),
            street=GridUnit(code="s1"),
            community=GridUnit(code="c1"),
            grid=GridUnit(code="g1"),
        ),
        location=Location(site="No. 3 e-bike shed"),
        source=Source(gateway_id=GATEWAY, device_id="smoke-7"),
        started_at=now,
        observed_at=now,
    )


def numbered(n: int, topic: str = "gridedge/v1/events/d1/s1/c1/g1/" + GATEWAY) -> OutMessage:
    """A small message that says its own number, so a subscriber can check order and completeness."""
    return OutMessage(topic=topic, payload=json.dumps({"n": n}).encode(), severity=Severity.MAJOR)


def number_of(message: aiomqtt.Message) -> int:
    payload = message.payload
    assert isinstance(payload, bytes | bytearray)
    return int(json.loads(payload)["n"])


@dataclass
class Collector:
    """Subscribes to `topic_filter` at QoS 1 and keeps every message, reconnecting when the broker goes.

    With `persistent=True` it uses a fixed client id and a persistent session, so what the broker
    queued for it while it was away is delivered when it comes back.
    """

    def __init__(self, port: int, topic_filter: str, *, persistent: bool = True, client_id: str = "collector") -> None:
        self.port = port
        self.topic_filter = topic_filter
        self.persistent = persistent
        self.client_id = client_id
        self.messages: list[aiomqtt.Message] = []
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Collector:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.subscribed.wait(), 5)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    identifier=self.client_id,
                    clean_session=not self.persistent,
                    timeout=2,
                ) as client:
                    await client.subscribe(self.topic_filter, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        self.messages.append(message)
            except aiomqtt.MqttError:
                self.subscribed.clear()
                await asyncio.sleep(0.05)

    async def wait_until(self, condition: Callable[[], bool], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {within}s ({len(self.messages)} messages seen)")
            await asyncio.sleep(0.02)

    def payloads(self) -> list[dict[str, object]]:
        out = []
        for m in self.messages:
            assert isinstance(m.payload, bytes | bytearray)
            out.append(json.loads(m.payload))
        return out


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {within}s"
        await asyncio.sleep(0.02)
