"""Group commit and what happens when the disk refuses writes: the writer keeps events in bounded
memory, says so, and stores them in order when the disk works again. The disk here is a real outbox
whose writes a switch makes fail the way SQLite fails on a full disk; the real full filesystem is in
tests/gateway/test_disk_full.py."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from gridedge.cloud_bridge import Outbox, OutMessage
from gridedge.cloud_bridge.writer import OutboxWriter
from gridedge.edge.event import Severity
from tests.cloud_bridge.helpers import numbered


class FillingDisk(Outbox):
    full = False

    def put_many(
        self, messages: Sequence[OutMessage], state: Mapping[str, object | None] | None = None
    ) -> Counter[Severity]:
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        return super().put_many(messages, state)


def message(n: int, severity: Severity) -> OutMessage:
    return OutMessage(topic=f"t/{n}", payload=json.dumps({"n": n}).encode(), severity=severity)


async def test_puts_are_committed_together_and_state_coalesced(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        writer = OutboxWriter(outbox, lambda _: None)
        first = writer.put([numbered(0)], {"k": 1, "gone": 1})
        second = writer.put([numbered(1)], {"k": 2, "gone": None})
        await asyncio.gather(first, second)
        assert writer.transactions <= 2
        assert outbox.load_state() == {"k": 2}
        assert outbox.depth() == 2


async def test_a_full_disk_keeps_events_in_memory_and_stores_them_when_space_returns(tmp_path: Path) -> None:
    outbox = FillingDisk(tmp_path / "o.db")
    with outbox:
        seen: list[str | None] = []
        writer = OutboxWriter(outbox, lambda _: None, max_held=5, retry_s=0.02, on_failing=seen.append)
        outbox.full = True
        futures = [writer.put([message(0, Severity.CRITICAL)], {"i/a": {"seq": 1}})]
        futures += [writer.put([message(n, Severity.MINOR)]) for n in range(1, 6)]
        futures.append(writer.put([message(6, Severity.CRITICAL)], {"i/a": {"seq": 2}}))
        await asyncio.sleep(0.1)
        assert writer.failing is not None
        assert "disk is full" in writer.failing
        assert seen == [writer.failing]
        assert writer.held == 5
        assert writer.dropped_in_memory == {Severity.MINOR: 2}
        assert not any(f.done() for f in futures)
        outbox.full = False
        await asyncio.wait_for(asyncio.gather(*futures), 2)
        assert writer.failing is None
        assert seen[-1] is None
        assert [json.loads(m.message.payload)["n"] for m in outbox.peek(10)] == [0, 3, 4, 5, 6]
        assert outbox.load_state() == {"i/a": {"seq": 2}}


async def test_critical_events_give_way_only_when_nothing_else_is_left(tmp_path: Path) -> None:
    outbox = FillingDisk(tmp_path / "o.db")
    with outbox:
        writer = OutboxWriter(outbox, lambda _: None, max_held=2, retry_s=0.02)
        outbox.full = True
        for n in range(4):
            writer.put([message(n, Severity.CRITICAL)])
        await asyncio.sleep(0.05)
        assert writer.dropped_in_memory == {Severity.CRITICAL: 2}
        outbox.full = False
        await writer.drain()
        assert [json.loads(m.message.payload)["n"] for m in outbox.peek(10)] == [2, 3]


async def test_drain_gives_up_while_the_disk_refuses_so_the_agent_can_stop(tmp_path: Path) -> None:
    outbox = FillingDisk(tmp_path / "o.db")
    with outbox:
        writer = OutboxWriter(outbox, lambda _: None, retry_s=0.02)
        outbox.full = True
        stored = writer.put([message(0, Severity.CRITICAL)])
        await asyncio.sleep(0.05)
        await asyncio.wait_for(writer.drain(), 1)
        assert stored.cancelled()


async def test_state_kept_in_memory_while_the_disk_refuses_holds_one_record_per_key(tmp_path: Path) -> None:
    outbox = FillingDisk(tmp_path / "o.db")
    with outbox:
        writer = OutboxWriter(outbox, lambda _: None, retry_s=0.02)
        outbox.full = True
        writer.put([], {"d/SA-1": {"last_seen": 0}})
        await asyncio.sleep(0.05)
        for n in range(1, 1000):
            writer.put([], {"d/SA-1": {"last_seen": n}, f"d/SA-{n % 3}": {"last_seen": n}})
        assert sum(len(p.state) for p in writer._pending) == 3
        outbox.full = False
        await writer.drain()
        assert outbox.load_state() == {
            "d/SA-0": {"last_seen": 999},
            "d/SA-1": {"last_seen": 999},
            "d/SA-2": {"last_seen": 998},
        }


async def test_a_put_of_nothing_is_done_in_its_turn(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        writer = OutboxWriter(outbox, lambda _: None)
        idle = writer.put([])
        assert idle.done()  # nothing before it: done at once
        first = writer.put([numbered(0)])
        nothing = writer.put([])
        assert not nothing.done()
        await nothing
        assert first.done()  # never before what was handed over earlier
