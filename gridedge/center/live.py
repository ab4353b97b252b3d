"""A change signal for live pages: a version number that grows on every stored revision or step,
with the places (grid codes) each change touched.

Watchers are told only that something changed in their own subtree and re-read what they show, so a
slow browser never holds a queue of events, and an officer learns nothing about changes elsewhere
(not even that they happened): however many changes they missed, one wake-up brings them up to date.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence

Place = tuple[str, ...]
RECENT = 1024
"""Changes remembered with their places; a watcher further behind is simply woken."""


def _covers(scope: Sequence[str], place: Place) -> bool:
    return tuple(place[: len(scope)]) == tuple(scope)


class ChangeFeed:
    def __init__(self) -> None:
        self.version = 0
        self._closed = False
        self._changed = asyncio.Event()
        self._recent: deque[tuple[int, frozenset[Place] | None]] = deque(maxlen=RECENT)

    def publish(self, places: Iterable[Place] | None = None) -> None:
        """Something changed at `places` (grid codes of the cases); None when anywhere."""
        self.version += 1
        self._recent.append((self.version, None if places is None else frozenset(tuple(p) for p in places)))
        self._wake()

    def close(self) -> None:
        """End every watch, so streaming responses finish and the HTTP server can stop."""
        self._closed = True
        self._wake()

    async def next_version(self, seen: int, scope: Sequence[str] = ()) -> int | None:
        """Wait for a change newer than `seen` inside `scope`; the feed's version then, or None once closed."""
        while not self._closed:
            if self.version > seen:
                if self._touches(seen, scope):
                    return self.version
                seen = self.version
            await self._changed.wait()
        return None

    def _touches(self, seen: int, scope: Sequence[str]) -> bool:
        if not scope or not self._recent or self._recent[0][0] > seen + 1:
            return True  # the whole city, or further behind than remembered
        return any(
            places is None or any(_covers(scope, p) for p in places)
            for version, places in self._recent
            if version > seen
        )

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
