"""Keep a connection alive: one backoff policy for every client (southbound, uplink, centre ingest).

Full jitter (a random delay up to a cap that doubles per failure) because a broker restart
disconnects every gateway of a city at once: without jitter they would all come back in the same
instant, and keep doing so on each retry. The cap resets after a session that stayed up, so one
blip after days of uptime reconnects in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

STABLE_AFTER_S = 10.0


class Backoff:
    def __init__(self, initial: float = 0.2, maximum: float = 30.0, rng: random.Random | None = None) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self._rng = rng or random.Random()
        self._cap = initial

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the cap, up to `maximum`."""
        delay = self._rng.uniform(0.0, self._cap)
        self._cap = min(self.maximum, self._cap * 2)
        return delay

    def reset(self) -> None:
        """Start again from `initial`, once a connection has proved itself."""
        self._cap = self.initial


def cancel_if_requested() -> None:
    """A client library may turn a cancel into its own error (or lose it in Python 3.11's `wait_for`); a task
    whose cancel was requested stops instead of reconnecting, so a supervisor's cancel always ends it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def keep_connected(
    session: Callable[[], Awaitable[None]],
    what: str,
    errors: tuple[type[BaseException], ...],
    *,
    backoff: Backoff | None = None,
    stop: asyncio.Event | None = None,
    on_down: Callable[[BaseException], None] | None = None,
) -> None:
    """Run `session` until it returns (or `stop` is set while waiting); after one of `errors`, wait
    a backoff delay and run it again. The wait ends at once when `stop` is set."""
    backoff = backoff or Backoff()
    while stop is None or not stop.is_set():
        started = time.monotonic()
        try:
            await session()
            return
        except errors as exc:
            cancel_if_requested()
            if time.monotonic() - started >= STABLE_AFTER_S:
                backoff.reset()
            if on_down is not None:
                on_down(exc)
            delay = backoff.next_delay()
            log.warning("%s: %s; reconnecting in %.1f s", what, exc or type(exc).__name__, delay)
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
