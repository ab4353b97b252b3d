"""A change signal for live pages: a version number that grows on every stored revision.

Watchers are told only that something changed and re-read what they show, so a slow browser never
holds a queue of events: however many changes it missed, one wake-up brings it up to date.
"""

from __future__ import annotations

import asyncio


class ChangeFeed:
    def __init__(self) -> None:
        self.version = 0
        self._closed = False
        self._changed = asyncio.Event()

    def publish(self) -> None:
        self.version += 1
        self._wake()

    def close(self) -> None:
        """End every watch, so streaming responses finish and the HTTP server can stop."""
        self._closed = True
        self._wake()

    async def next_version(self, seen: int) -> int | None:
        """Wait for a version newer than `seen`; None once the feed is closed."""
        while not self._closed and self.version <= seen:
            await self._changed.wait()
        return None if self._closed else self.version

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
