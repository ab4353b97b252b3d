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
