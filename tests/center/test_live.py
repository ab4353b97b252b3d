from __future__ import annotations

import asyncio

from gridedge.center.live import ChangeFeed


async def test_a_watcher_wakes_once_for_a_burst_and_sees_the_latest_version() -> None:
    feed = ChangeFeed()
    waiting = asyncio.create_task(feed.next_version(0))
    await asyncio.sleep(0)
    feed.publish()
    feed.publish()
    assert await waiting == 2
    assert await feed.next_version(1) == 2


async def test_closing_ends_every_watch() -> None:
    feed = ChangeFeed()
    waiting = asyncio.create_task(feed.next_version(0))
    await asyncio.sleep(0)
    feed.close()
    assert await waiting is None
    assert await feed.next_version(0) is None


async def test_a_watcher_hears_only_changes_in_its_subtree() -> None:
    feed = ChangeFeed()
    grid1 = ("D01", "S01", "C01", "G01")
    waiting = asyncio.create_task(feed.next_version(0, grid1))
    await asyncio.sleep(0)
    feed.publish([("D01", "S01", "C01", "G02")])  # the neighbouring grid: not told
    feed.publish([("D02", "S01", "C01", "G01")])
    await asyncio.sleep(0.01)
    assert not waiting.done()
    feed.publish([grid1])
    assert await waiting == 3
    street = asyncio.create_task(feed.next_version(0, ("D01", "S01")))
    assert await street == 3  # the street saw changes in two of its grids
    feed.publish()  # somewhere (an escalation round): everyone re-reads
    assert await feed.next_version(3, grid1) == 4
