"""Group commit into the outbox: whoever has events hands them over and goes on; one transaction
stores everything handed over since the last one.

The rules must not wait for the disk: at ten thousand readings a second with alarms among them,
waiting for each store (a thread hop and an fsync) would stall decisions while readings pile up.
Events are still durable before the uplink hears of them, and stored in the order they were made.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence

from gridedge.cloud_bridge.message import OutMessage
from gridedge.cloud_bridge.outbox import Outbox
from gridedge.edge.event import Severity


class OutboxWriter:
    def __init__(self, outbox: Outbox, on_stored: Callable[[Counter[Severity]], None]) -> None:
        self._outbox = outbox
        self._on_stored = on_stored  # after each transaction, with what the full-outbox policy dropped
        self._pending: list[tuple[Sequence[OutMessage], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0

    def put(self, messages: Sequence[OutMessage]) -> asyncio.Future[None]:
        """Queue `messages` for the next transaction; the future is done once they are durable."""
        stored = asyncio.get_running_loop().create_future()
        self._pending.append((messages, stored))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write(), name="outbox-writer")
        return stored

    async def drain(self) -> None:
        """Until everything handed over is stored (before closing the outbox)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                dropped = await asyncio.to_thread(self._outbox.put_many, [m for ms, _ in batch for m in ms])
            except Exception as exc:  # the disk failed: every waiter hears it, the agent stops on it
                for _, stored in batch:
                    stored.set_exception(exc)
                continue
            self.transactions += 1
            self._on_stored(dropped)
            for _, stored in batch:
                if not stored.done():
                    stored.set_result(None)
