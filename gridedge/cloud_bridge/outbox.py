"""The durable outbox: grid events wait here, on disk, until the broker has acknowledged them.

Durability (the fsync policy): the database runs in WAL mode with `synchronous=FULL`, so every
commit fsyncs the write-ahead log before it returns. When `put` or `put_many` returns, the messages
survive a crash of the process, of the OS and a power cut (on storage that honours fsync). That costs
one fsync per call, which is why the agent hands over a whole batch with `put_many` (one transaction).

Order: `id` is AUTOINCREMENT, so ids are never reused and grow in the order messages were put;
reading oldest first keeps the revisions of one incident in order.

Bound: none yet. A full-outbox policy (drop info before minor before major, never critical, using the
stored `severity`) belongs in `put_many`; until then the outbox grows with the outage and `depth()`
and `oldest_age()` are what to watch.

Threads: one connection shared under a lock, so the asyncio agent may call any method through
`asyncio.to_thread` from any executor thread. SQLite serialises writers anyway; the lock only makes
the sharing of one connection safe.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from gridedge.cloud_bridge.message import OutMessage, StoredMessage
from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.errors import GridEdgeError
from gridedge.edge.event import Severity

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    severity TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
)
"""


class OutboxError(GridEdgeError):
    """The outbox file cannot give the durability it promises (wrong journal mode, newer schema)."""


class Outbox:
    """Durable FIFO of messages for the broker, in one SQLite file."""

    def __init__(self, path: Path | str, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        # Autocommit mode: every transaction below is opened explicitly, none implicitly by the driver.
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    def _open(self) -> None:
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise OutboxError(f"{self.path}: cannot use WAL journal mode (got {mode!r})")
        self._conn.execute("PRAGMA synchronous=FULL")
        # Another process (a CLI reading depth) may hold the file briefly: wait instead of failing.
        self._conn.execute("PRAGMA busy_timeout=5000")
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise OutboxError(f"{self.path}: schema version {version} is newer than {SCHEMA_VERSION}")
        with self._transaction():
            self._conn.execute(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def put_many(self, messages: Sequence[OutMessage]) -> None:
        """Store `messages` in order, all or none; durable when this returns."""
        if not messages:
            return
        now = self._clock.now()
        rows = [(m.topic, m.payload, m.qos, int(m.retain), m.severity.value, now) for m in messages]
        with self._lock, self._transaction():
            self._conn.executemany(
                "INSERT INTO outbox (topic, payload, qos, retain, severity, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def put(self, message: OutMessage) -> None:
        """Store one message; durable when this returns. Prefer `put_many` for several (one fsync)."""
        self.put_many([message])

    def peek(self, limit: int) -> list[StoredMessage]:
        """The `limit` oldest messages, oldest first; they stay in the outbox until `remove`."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, topic, payload, qos, retain, severity, created_at, attempts"
                " FROM outbox ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            StoredMessage(
                id=row_id,
                message=OutMessage(
                    topic=topic, payload=bytes(payload), qos=qos, retain=bool(retain), severity=Severity(severity)
                ),
                created_at=created_at,
                attempts=attempts,
            )
            for row_id, topic, payload, qos, retain, severity, created_at, attempts in rows
        ]

    def remove(self, ids: Sequence[int]) -> None:
        """Forget messages the broker acknowledged. Unknown ids are ignored (removing twice is harmless)."""
        if not ids:
            return
        with self._lock, self._transaction():
            self._conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def record_attempt(self, ids: Sequence[int]) -> None:
        """Count a delivery that was tried and not acknowledged, so a stuck message is visible."""
        if not ids:
            return
        with self._lock, self._transaction():
            self._conn.executemany("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", [(i,) for i in ids])

    def depth(self) -> int:
        """How many messages wait for the broker."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def oldest_age(self, now: float | None = None) -> float:
        """Seconds the oldest waiting message has waited (0 when empty): how far behind the centre is."""
        with self._lock:
            row = self._conn.execute("SELECT created_at FROM outbox ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return 0.0
        return max(0.0, (self._clock.now() if now is None else now) - float(row[0]))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
