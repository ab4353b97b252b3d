"""Hot reload: notice when configuration files change.

Polling, not inotify: it works the same on every filesystem a gateway has (SD cards, overlays,
network mounts), and a few stat calls a second cost nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

Stamp = tuple[tuple[str, int, int], ...]


def files_stamp(paths: Iterable[Path]) -> Stamp:
    """What changes when someone edits, adds or removes one of the files (mtime and size per file)."""
    stamps = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            stamps.append((str(path), -1, -1))
        else:
            stamps.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(stamps)


async def watch(stamp_now: Callable[[], Stamp], on_change: Callable[[], Awaitable[object]], every_s: float) -> None:
    """Call `on_change` each time the stamp changes, checking every `every_s` seconds."""
    stamp = stamp_now()
    while True:
        await asyncio.sleep(every_s)
        current = stamp_now()
        if current != stamp:
            stamp = current
            await on_change()
