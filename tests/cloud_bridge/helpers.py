"""Test helpers for the cloud bridge: grid events, a persistent broker, and a subscriber that reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import aiomqtt

from gridedge.center.service import run_center
from gridedge.center.settings import CenterConfig, HttpConfig
from gridedge.cloud_bridge import OutMessage, event_message
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


def burst(incidents: int, revisions: int) -> list[OutMessage]:
    """Revisions 1..`revisions` of `incidents` incidents, interleaved as a busy gateway raises them."""
    return [
        event_message(make_event(f"evt-{i:08d}", seq, severity=Severity.MAJOR))
        for seq in range(1, revisions + 1)
        for i in range(incidents)
    ]


def stored_revisions(database: Path) -> list[tuple[str, int]]:
    """(event_id, seq) of every revision the centre stored, in the order it stored them."""
    if not database.exists():
        return []
    conn = sqlite3.connect(database)
    try:
        return [(e, int(s)) for e, s in conn.execute("SELECT event_id, seq FROM event_revisions ORDER BY id")]
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        conn.close()


def assert_complete_and_in_order(stored: list[tuple[str, int]], expected: set[tuple[str, int]] | None = None) -> None:
    """Each revision stored once, each incident's revisions stored in seq order with none missing."""
    assert len(stored) == len(set(stored)), "a revision was applied twice"
    if expected is not None:
        assert set(stored) == expected
    per_incident: dict[str, list[int]] = {}
    for event_id, seq in stored:
        per_incident.setdefault(event_id, []).append(seq)
    for event_id, seqs in per_incident.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"{event_id}: revisions stored as {seqs[:20]}"


@asynccontextmanager
async def centre(
    port: int, database: Path, *, user: str = "", jurisdiction: tuple[str, ...] = ()
) -> AsyncIterator[None]:
    """The real grid centre (ingest + store) on the broker at `port`; `user` is "name:password@" or ""."""
    config = CenterConfig(
        broker=f"mqtt://{user}127.0.0.1:{port}",
        database=f"sqlite:///{database}",
        http=HttpConfig(port=0),
        jurisdiction=jurisdiction,
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_center(config, stop=stop, ready=ready))
    try:
        await asyncio.wait([task, asyncio.create_task(ready.wait())], timeout=15, return_when=asyncio.FIRST_COMPLETED)
        assert ready.is_set(), "the centre did not become ready"
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
