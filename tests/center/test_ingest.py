"""Ingest against a real Mosquitto, without the HTTP side."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy.exc import DataError, OperationalError

from gridedge.center import ingest as ingest_module
from gridedge.center.gateways import gateways
from gridedge.center.ingest import Ingest
from gridedge.center.settings import CenterConfig
from gridedge.center.store import CaseStore, Outcome
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.event import GridEvent
from gridedge.edge.topics import status_topic
from tests.center.events import make_event, topic_of
from tests.servers import Mosquitto


class FlakyStore(CaseStore):
    """Fails its first write, as a locked or unreachable database would."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.failures_left = 1

    def add_many(self, events: Sequence[GridEvent], received_at: float) -> list[Outcome]:
        if self.failures_left:
            self.failures_left -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return super().add_many(events, received_at)


async def until(predicate: Callable[[], bool]) -> None:
    while True:
        if predicate():
            return
        await asyncio.sleep(0.02)


@pytest.mark.integration
async def test_a_failed_write_is_retried_and_the_batch_still_stored(broker: Mosquitto, tmp_path: Path) -> None:
    store = FlakyStore(f"sqlite:///{tmp_path / 'center.db'}")
    store.migrate()
    stored: list[str] = []
    ingest = Ingest(
        CenterConfig(broker=BrokerConfig(port=broker.port)),
        store,
        on_stored=lambda events: stored.extend(e.event_id for e in events),
    )
    event = make_event()
    task = asyncio.create_task(ingest.run())
    try:
        async with asyncio.timeout(5):
            await until(lambda: ingest.stats.broker_connected)
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.publish(topic_of(event), event.to_json(), qos=1)
            await until(lambda: bool(stored))
        assert stored == [event.event_id]
        assert store.failures_left == 0
        assert (ingest.stats.received, ingest.stats.stored) == (1, 1)
    finally:
        task.cancel()
        await asyncio.wait([task])
        store.close()


class PickyStore(CaseStore):
    """Refuses any batch holding one particular event, as a database refuses a row it cannot store."""

    def add_many(self, events: Sequence[GridEvent], received_at: float) -> list[Outcome]:
        if any(e.event_id == "evt-refused-1" for e in events):
            raise DataError("INSERT", {}, Exception("invalid byte sequence"))
        return super().add_many(events, received_at)


@pytest.mark.integration
async def test_a_row_the_database_refuses_is_dead_lettered_and_its_batch_stored(
    broker: Mosquitto, tmp_path: Path
) -> None:
    store = PickyStore(f"sqlite:///{tmp_path / 'center.db'}")
    store.migrate()
    ingest = Ingest(CenterConfig(broker=BrokerConfig(port=broker.port)), store)
    events = [  # three devices: one device's incidents would fold into one case
        make_event("evt-good-0001"),
        make_event("evt-refused-1", device_id="smoke-4a"),
        make_event("evt-good-0002", device_id="smoke-5b"),
    ]
    task = asyncio.create_task(ingest.run())
    try:
        async with asyncio.timeout(10):
            await until(lambda: ingest.stats.broker_connected)
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                for event in events:
                    await client.publish(topic_of(event), event.to_json(), qos=1)
            await until(lambda: ingest.stats.stored + ingest.stats.rejected["store_failed"] == 3)
            await until(lambda: bool(store.dead_letters()))  # written after the batch's counters move
        assert ingest.stats.stored == 2
        assert [d.reason for d in store.dead_letters()] == ["store_failed"]
        assert store.count_cases() == 2
    finally:
        task.cancel()
        await asyncio.wait([task])
        store.close()


@pytest.mark.integration
async def test_a_message_is_acknowledged_only_once_committed(broker: Mosquitto, tmp_path: Path) -> None:
    """The first replica never manages to commit: the broker must send the event again to the next one
    under the same client id, so it cannot have been acknowledged on receipt."""
    down = FlakyStore(f"sqlite:///{tmp_path / 'center.db'}")
    down.migrate()
    down.failures_left = 10_000  # the database stays away
    config = CenterConfig(broker=BrokerConfig(port=broker.port))
    first = Ingest(config, down)
    event = make_event()
    task = asyncio.create_task(first.run())
    try:
        async with asyncio.timeout(5):
            await until(lambda: first.stats.broker_connected)
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.publish(topic_of(event), event.to_json(), qos=1)
            await until(lambda: first.stats.received == 1)
    finally:
        task.cancel()
        await asyncio.wait([task])
        down.close()
    assert first.stats.stored == 0
    store = CaseStore(f"sqlite:///{tmp_path / 'center.db'}")
    second = Ingest(config, store)
    task = asyncio.create_task(second.run())
    try:
        async with asyncio.timeout(5):
            await until(lambda: second.stats.stored == 1)
        assert store.count_cases() == 1
    finally:
        task.cancel()
        await asyncio.wait([task])
        store.close()


@pytest.mark.integration
async def test_retained_statuses_are_recorded_and_an_oversize_message_is_refused_by_topic(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway's status is retained, so it reaches a centre that subscribes after it was published.
    A message past the session's packet limit is skipped unread, acknowledged, dead-lettered under its
    topic, and what follows it is stored."""
    monkeypatch.setattr(ingest_module, "MAX_PACKET_BYTES", 100_000)
    store = CaseStore(f"sqlite:///{tmp_path / 'center.db'}")
    store.migrate()
    status = b'{"state": "online", "gateway_id": "gw-01", "version": "1.0"}'
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.publish(status_topic("gw-01"), status, qos=1, retain=True)
    ingest = Ingest(CenterConfig(broker=BrokerConfig(port=broker.port)), store)
    huge, event = make_event("evt-huge-0001"), make_event("evt-after-001", device_id="smoke-4a")
    task = asyncio.create_task(ingest.run())
    try:
        async with asyncio.timeout(10):
            await until(lambda: ingest.stats.broker_connected)
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.publish(topic_of(huge), huge.to_json() + b" " * 200_000, qos=1)
                await client.publish(topic_of(event), event.to_json(), qos=1)
            await until(lambda: ingest.stats.stored == 1)
            await until(lambda: bool(store.dead_letters()))
        assert [g.gateway_id for g in gateways(store.engine, ())] == ["gw-01"]
        assert ingest.stats.rejected == {"oversize": 1}
        [letter] = store.dead_letters()
        assert (letter.topic, letter.reason) == (topic_of(huge), "oversize")
        assert store.count_cases() == 1
    finally:
        task.cancel()
        await asyncio.wait([task])
        store.close()
