"""The promise, end to end: every event a gateway raised reaches the real centre once, in order per
incident, across a broker outage and across a gateway killed with SIGKILL."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gridedge.cloud_bridge import Bound, Outbox, Uplink, event_message
from gridedge.devtools.broker import MosquittoProcess
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.event import Severity
from gridedge.edge.reconnect import Backoff
from tests.cloud_bridge.helpers import (
    GATEWAY,
    assert_complete_and_in_order,
    burst,
    centre,
    eventually,
    make_event,
    stored_revisions,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
INCIDENTS, REVISIONS = 20, 30


def expected(count: int | None = None) -> set[tuple[str, int]]:
    keys = [(f"evt-{i:08d}", seq) for seq in range(1, REVISIONS + 1) for i in range(INCIDENTS)]
    return set(keys[:count])


async def test_a_broker_outage_during_a_burst_loses_nothing_and_applies_nothing_twice(
    tmp_path: Path, persistent_broker: MosquittoProcess
) -> None:
    broker, database = persistent_broker, tmp_path / "centre.db"
    messages = burst(INCIDENTS, REVISIONS)
    async with centre(broker.port, database):
        with Outbox(tmp_path / "outbox.sqlite3") as outbox:
            uplink = Uplink(
                outbox, BrokerConfig(host="127.0.0.1", port=broker.port), GATEWAY, backoff=Backoff(0.05, 0.5)
            )
            stop = asyncio.Event()
            task = asyncio.create_task(uplink.run(stop))
            try:
                for n, start in enumerate(range(0, len(messages), 10)):
                    await asyncio.to_thread(outbox.put_many, messages[start : start + 10])
                    uplink.notify()
                    if n == 20:
                        await asyncio.to_thread(broker.stop)  # mid-burst: the rest piles up in the outbox
                    if n == 40:
                        await asyncio.to_thread(broker.start)
                    await asyncio.sleep(0.005)
                await eventually(lambda: len(stored_revisions(database)) >= len(messages), within=30)
                await eventually(lambda: outbox.depth() == 0)
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
    assert uplink.reconnects >= 1
    assert_complete_and_in_order(stored_revisions(database), expected())


def child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.cloud_bridge.child", *args], cwd=REPO, stdout=subprocess.PIPE, text=True
    )


async def test_a_gateway_killed_mid_burst_delivers_everything_it_accepted_after_restart(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    database, outbox = tmp_path / "centre.db", str(tmp_path / "outbox.sqlite3")
    async with centre(broker.port, database):
        proc = child("burst", str(broker.port), outbox, str(INCIDENTS), str(REVISIONS))
        assert proc.stdout is not None
        durable = 0
        try:
            while durable < INCIDENTS * REVISIONS // 2:
                durable = int(await asyncio.to_thread(proc.stdout.readline))
            await eventually(lambda: len(stored_revisions(database)) > 0)  # killed while delivering, not before
        finally:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 5)
        for line in proc.stdout:  # what it said was durable before it died
            durable = int(line)
        proc.stdout.close()
        assert len(stored_revisions(database)) < durable, "the kill came too late to test anything"

        restarted = child("uplink", str(broker.port), outbox)
        try:
            await eventually(lambda: len(stored_revisions(database)) >= durable, within=30)
            await asyncio.sleep(0.3)  # anything beyond `durable` was put and committed just before the kill
        finally:
            restarted.send_signal(signal.SIGKILL)
            await asyncio.to_thread(restarted.wait, 5)
            assert restarted.stdout is not None
            restarted.stdout.close()
    stored = stored_revisions(database)
    assert expected(durable) <= set(stored) <= expected()
    assert_complete_and_in_order(stored)


def survivors(puts: list[list[tuple[str, Severity]]], bound: int) -> list[str]:
    """The documented policy, written out plainly: oldest info, then minor, then major; never critical."""
    held: list[tuple[str, Severity]] = []
    for batch in puts:
        held += batch
        for severity in (Severity.INFO, Severity.MINOR, Severity.MAJOR):
            while len(held) > bound and any(s is severity for _, s in held):
                held.remove(next(h for h in held if h[1] is severity))
    return [event_id for event_id, _ in held]


async def test_a_full_outbox_applies_the_policy_and_every_critical_event_reaches_the_centre(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    database, bound = tmp_path / "centre.db", 40
    order = (Severity.INFO, Severity.CRITICAL, Severity.MINOR, Severity.MAJOR, Severity.INFO)
    events = [make_event(f"evt-{k:08d}", 1, severity=order[k % len(order)]) for k in range(150)]
    puts = [events[i : i + 10] for i in range(0, len(events), 10)]
    with Outbox(tmp_path / "outbox.sqlite3", bound=Bound(max_messages=bound)) as outbox:
        for batch in puts:  # the outage: nothing drains
            outbox.put_many([event_message(e) for e in batch])
        expected_ids = survivors([[(e.event_id, e.severity) for e in batch] for batch in puts], bound)
        assert outbox.depth() == bound
        assert outbox.dropped() == {Severity.INFO: 60, Severity.MINOR: 30, Severity.MAJOR: 20}
        async with centre(broker.port, database):
            uplink = Uplink(outbox, BrokerConfig(host="127.0.0.1", port=broker.port), GATEWAY)
            stop = asyncio.Event()
            task = asyncio.create_task(uplink.run(stop))
            try:
                await eventually(lambda: len(stored_revisions(database)) >= bound, within=15)
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
    stored = [event_id for event_id, _ in stored_revisions(database)]
    assert stored == expected_ids
    critical = [e.event_id for e in events if e.severity is Severity.CRITICAL]
    assert set(critical) <= set(stored)
