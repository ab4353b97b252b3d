"""Keep a connection alive: run a session again and again with jittered exponential backoff.

One implementation for every client connection (southbound MQTT, uplink, centre ingest), so they all
back off the same way: full jitter (a random delay up to the cap) so a neighbourhood of gateways
coming back after a power cut does not hit the broker in lockstep, and the cap resets after a
session that stayed up, so one blip after days of uptime reconnects in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def keep_connected(
    session: Callable[[], Awaitable[None]],
    what: str,
    errors: tuple[type[BaseException], ...],
    *,
    first_delay: float = 0.2,
    max_delay: float = 30.0,
    stable_after: float = 10.0,
    on_down: Callable[[BaseException], None] | None = None,
) -> None:
    """Run `session` until it returns; when it raises one of `errors`, wait and run it again."""
    cap = first_delay
    while True:
        started = time.monotonic()
        try:
            await session()
            return
        except errors as exc:
            if time.monotonic() - started > stable_after:
                cap = first_delay
            if on_down is not None:
                on_down(exc)
            delay = random.uniform(0, cap)
            log.warning("%s: %s; reconnecting in %.1f s", what, exc or type(exc).__name__, delay)
            await asyncio.sleep(delay)
            cap = min(cap * 2, max_delay)
