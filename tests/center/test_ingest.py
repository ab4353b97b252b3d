"""Ingest against a real Mosquitto, without the HTTP side."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy.exc import DataError, OperationalError

from gridedge.center.ingest import Ingest
from gridedge.center.settings import CenterConfig
from gridedge.center.store import CaseStore, Outcome
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.event import GridEvent
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
    events = [make_event("evt-good-0001"), make_event("evt-refused-1"), make_event("evt-good-0002")]
    task = asyncio.create_task(ingest.run())
    try:
        async with asyncio.timeout(10):
            await until(lambda: ingest.stats.broker_connected)
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                for event in events:
                    await client.publish(topic_of(event), event.to_json(), qos=1)
            await until(lambda: ingest.stats.stored + ingest.stats.rejected["store_failed"] == 3)
        assert ingest.stats.stored == 2
        assert [d.reason for d in store.dead_letters()] == ["store_failed"]
        assert store.count_cases() == 2
    finally:
        task.cancel()
        await asyncio.wait([task])
        store.close()
