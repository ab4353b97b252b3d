"""Keep the demo's parts running: one that crashes is logged and started again, never taking the others
down (a task group would end every part with the first exception).

Each part's own connections already ride through a broker outage; this is the net under that, for a
bug or anything else a part did not expect. Restarts follow the project's one backoff policy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gridedge.edge.reconnect import Backoff, keep_connected

log = logging.getLogger(__name__)

RESTART_MAX_S = 10.0


async def supervised(name: str, part: Callable[[], Awaitable[object]], stop: asyncio.Event) -> None:
    """Run `part` until it returns or `stop` is set; after a crash, log it with its traceback and run
    it again (a fresh call of `part`) after a backoff."""

    async def run() -> None:
        await part()

    def crashed(exc: BaseException) -> None:
        log.error("demo: %s crashed; starting it again", name, exc_info=exc)

    backoff = Backoff(0.5, RESTART_MAX_S)
    await keep_connected(run, f"demo: {name}", (Exception,), backoff=backoff, stop=stop, on_down=crashed)
