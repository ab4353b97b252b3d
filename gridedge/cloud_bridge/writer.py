"""Group commit into the outbox: whoever has events hands them over and goes on; one transaction
stores everything handed over since the last one, with the state changes that go with them.

The rules must not wait for the disk: at ten thousand readings a second with alarms among them,
waiting for each store (a thread hop and an fsync) would stall decisions while readings pile up.
Events are still durable before the uplink hears of them, and stored in the order they were made.
A `put`'s future is done when its events and state are committed: the moment a decision is
"decided and committed", which is when a southbound message may be acknowledged.

State changes (key -> record, None: forget) handed over with successive puts are coalesced: the
later record of a key wins, so a commit writes each key once however often it changed.

When the disk is full or read-only, the agent keeps deciding: the writer keeps what it could not
store in memory and retries every `retry_s`; `failing` says why meanwhile (status, /metrics). The
memory it may use is bounded (`max_held` messages): past it the oldest `info`, then `minor`, then
`major` messages give way, and critical ones only when nothing else is left (all counted in
`dropped_in_memory`). When the disk takes writes again, everything kept is stored in order, at once.

The writer's transactions run on a thread of its own, not the event loop's default executor: whatever
else borrows that executor (an API request, a slow client, a camera) never delays a commit. The thread
lives while there is something to write, so a busy writer keeps one thread and an idle one holds none.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gridedge.cloud_bridge.message import OutMessage
from gridedge.cloud_bridge.outbox import DROP_ORDER, Outbox
from gridedge.edge.event import Severity

log = logging.getLogger(__name__)

MAX_HELD = 10_000
RETRY_S = 1.0
STORAGE_ERRORS = (sqlite3.OperationalError, OSError)
"""What a full, read-only or vanished disk raises; anything else is a bug and stops the agent."""

State = Mapping[str, object | None]


@dataclass(frozen=True, slots=True)
class StorageCondition:
    """Whether events reach the disk; while not, they wait in memory (bounded, critical ones kept last)."""

    failing: str | None  # why the last write failed; None: storing works
    held_in_memory: int
    dropped_in_memory: dict[str, int]  # severity -> events given up while the disk refused writes


@dataclass(slots=True)
class _Put:
    messages: list[OutMessage]
    state: dict[str, object | None]
    stored: asyncio.Future[None]


class OutboxWriter:
    def __init__(
        self,
        outbox: Outbox,
        on_stored: Callable[[Counter[Severity]], None],
        *,
        max_held: int = MAX_HELD,
        retry_s: float = RETRY_S,
        on_failing: Callable[[str | None], None] | None = None,
    ) -> None:
        self._outbox = outbox
        self._on_stored = on_stored  # after each transaction, with what the full-outbox policy dropped
        self._on_failing = on_failing  # when storing starts failing (the reason) and when it works again (None)
        self._max_held = max_held
        self._retry_s = retry_s
        self._pending: list[_Put] = []
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0
        self.failing: str | None = None
        self.dropped_in_memory: Counter[Severity] = Counter()

    def put(self, messages: Sequence[OutMessage], state: State | None = None) -> asyncio.Future[None]:
        """Queue `messages` and `state` for the next transaction; the future is done once they, and
        everything handed over before them, are durable (transactions commit in the order of the puts).
        With nothing to store it is done when what was handed over before is: a southbound message that
        changed nothing is acknowledged in its turn, never before an earlier one that did."""
        stored = asyncio.get_running_loop().create_future()
        state = state or {}
        if not messages and not state and not self._pending and (self._task is None or self._task.done()):
            stored.set_result(None)
            return stored
        if self.failing is not None and self._pending:
            # Kept in memory for as long as the disk refuses: one record per key, however often it changed.
            self._pending[0].state.update(state)
            state = {}
        self._pending.append(_Put(list(messages), dict(state), stored))
        if self.failing is not None:
            self._bound()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write(), name="outbox-writer")
        return stored

    def condition(self) -> StorageCondition:
        return StorageCondition(self.failing, self.held, {s.value: n for s, n in self.dropped_in_memory.items()})

    @property
    def held(self) -> int:
        """Messages waiting in memory (while storing fails, those not yet retried)."""
        return sum(len(p.messages) for p in self._pending)

    async def drain(self, *, give_up_when_failing: bool = True) -> None:
        """Until everything handed over is stored (before closing the outbox). While the disk refuses
        writes, waiting would keep the agent from stopping: after one more try it gives up, saying what
        is lost."""
        tried = False
        while self._task is not None and not self._task.done():
            if give_up_when_failing and self.failing is not None and tried:
                log.critical(
                    "stopping while storage fails (%s): %d events held in memory are lost", self.failing, self.held
                )
                self._task.cancel()
                for p in self._pending:
                    if not p.stored.done():
                        p.stored.cancel()
                self._pending = []
                return
            tried = self.failing is not None
            await asyncio.wait([self._task], timeout=2 * self._retry_s)

    async def _write(self) -> None:
        # The writer's own thread, for as long as there is something to write (then it ends).
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-writer")
        try:
            await self._write_all(thread)
        finally:
            thread.shutdown(wait=False)

    async def _write_all(self, thread: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            messages = [m for p in batch for m in p.messages]
            state: dict[str, object | None] = {}
            for p in batch:
                state.update(p.state)
            try:
                dropped = await loop.run_in_executor(thread, self._outbox.put_many, messages, state)
            except STORAGE_ERRORS as exc:
                self._pending = batch + self._pending  # kept, in order, for the next try
                self._failed(exc)
                await asyncio.sleep(self._retry_s)
                continue
            except Exception as exc:  # not the disk: a bug. Every waiter hears it, the agent stops on it
                for p in batch:
                    p.stored.set_exception(exc)
                continue
            if self.failing is not None:
                log.warning("storage works again: %d events kept in memory are stored", len(messages))
                self.failing = None
                if self._on_failing is not None:
                    self._on_failing(None)
            self.transactions += 1
            self._on_stored(dropped)
            for p in batch:
                if not p.stored.done():
                    p.stored.set_result(None)

    def _failed(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if self.failing is None:
            log.error("storing events failed (%s): deciding goes on, events wait in memory", reason)
            self.failing = reason
            if self._on_failing is not None:
                self._on_failing(reason)
        self.failing = reason
        self._bound()

    def _bound(self) -> None:
        """Keep at most `max_held` messages in memory: the lowest severities give way first, oldest
        first; critical ones only when nothing else is left."""
        excess = self.held - self._max_held
        for severity in (*DROP_ORDER, Severity.CRITICAL):
            for p in self._pending:
                if excess <= 0:
                    return
                kept = []
                for m in p.messages:
                    if excess > 0 and m.severity is severity:
                        excess -= 1
                        self.dropped_in_memory[severity] += 1
                    else:
                        kept.append(m)
                p.messages = kept
