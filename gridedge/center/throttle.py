"""Login throttling: failed logins counted per account and per client address, and a bound on how
many argon2 checks run at once.

Each check costs argon2's 64 MiB and a good part of a core, so without a bound fifty parallel wrong
logins would cost gigabytes. At most `max_hashing` checks run; at most `max_waiting` more wait for a
turn; any further attempt is refused at once without hashing. An account or address with too many
recent failures is refused until the window passes. State is per process (replicas each keep their
own) and bounded: the oldest keys are forgotten first.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.errors import GridEdgeError

T = TypeVar("T")


class ThrottledError(GridEdgeError):
    """A login refused before checking the password; `retry_after_s` says when to try again."""

    def __init__(self, why: str, retry_after_s: float) -> None:
        self.retry_after_s = max(1, round(retry_after_s))
        super().__init__(why)


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    per_account: int = 5
    """Failed logins of one username within `window_s` before it is refused."""
    per_address: int = 20
    """Failed logins from one client address within `window_s` before it is refused."""
    window_s: float = 900.0
    max_hashing: int = 2
    """Password checks at once: memory is about max_hashing x 64 MiB."""
    max_waiting: int = 8
    """Attempts that may wait for a check; more are refused at once."""
    max_keys: int = 10_000
    """Accounts and addresses remembered; the oldest are forgotten first."""


class _Failures:
    def __init__(self, limit: int, keys: int) -> None:
        self._limit = limit
        self._keys = keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def blocked_for(self, key: str, now: float, window_s: float) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        times = self._times.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - window_s:
            times.popleft()
        if len(times) < self._limit:
            return 0.0
        return times[0] + window_s - now

    def add(self, key: str, now: float) -> None:
        times = self._times.pop(key, None) or deque(maxlen=self._limit)
        times.append(now)
        self._times[key] = times
        while len(self._times) > self._keys:
            self._times.popitem(last=False)

    def clear(self, key: str) -> None:
        self._times.pop(key, None)


class LoginThrottle:
    def __init__(self, limits: ThrottleLimits | None = None, clock: Clock | None = None) -> None:
        self.limits = limits or ThrottleLimits()
        self._clock = clock or SystemClock()
        self._accounts = _Failures(self.limits.per_account, self.limits.max_keys)
        self._addresses = _Failures(self.limits.per_address, self.limits.max_keys)
        self._slots = asyncio.Semaphore(self.limits.max_hashing)
        self._waiting = 0
        self.refused = 0
        """Attempts refused without a password check (the login page's counter for the tests and logs)."""

    def check(self, username: str, address: str) -> None:
        """ThrottledError when this account or address has failed too often lately."""
        now, window = self._clock.now(), self.limits.window_s
        wait = max(self._accounts.blocked_for(username, now, window), self._addresses.blocked_for(address, now, window))
        if wait > 0:
            self.refused += 1
            raise ThrottledError("too many failed logins", wait)

    async def run(self, check: Callable[..., T], *args: Any) -> T:
        """Run a password check in a thread when a turn is free; ThrottledError when too many already wait.

        The turn is given back when the thread finishes, not when the caller stops waiting, so a
        client that disconnects cannot free a slot while its hash still runs."""
        if self._slots.locked() and self._waiting >= self.limits.max_waiting:
            self.refused += 1
            raise ThrottledError("too many logins at once", 1)
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            work = asyncio.ensure_future(asyncio.to_thread(check, *args))
        except BaseException:
            self._slots.release()
            raise
        work.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(work)

    def failed(self, username: str, address: str) -> None:
        now = self._clock.now()
        self._accounts.add(username, now)
        self._addresses.add(address, now)

    def succeeded(self, username: str) -> None:
        self._accounts.clear(username)
