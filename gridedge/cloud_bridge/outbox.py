"""The durable outbox: grid events wait here, on disk, until the broker has acknowledged them.

Durability (the fsync policy): the database runs in WAL mode with `synchronous=FULL`, so every
commit fsyncs the write-ahead log before it returns. When `put` or `put_many` returns, the messages
survive a crash of the process, of the OS and a power cut (on storage that honours fsync). That costs
one fsync per call, which is why the agent hands over a whole batch with `put_many` (one transaction).

Order: `id` is AUTOINCREMENT, so ids are never reused and grow in the order messages were put;
reading oldest first keeps the revisions of one incident in order.

Bound (the policy when full): a `Bound` caps the messages held and their bytes (topic + payload).
When a `put_many` would go over it, the outbox makes room in the same transaction by dropping the
oldest `info` messages, then the oldest `minor`, then the oldest `major`; a `critical` message is
never dropped, so critical events alone may take the outbox past its bound (and nothing else then
stays). What was dropped is counted per severity in the file itself (`dropped()`), so the uplink's
status reports it even after a restart, and `put_many` returns what this call dropped.

Set aside: a message the broker refused for good (an MQTT 5 PUBACK with a failure reason, such as
"not authorized") moves to a `set_aside` table with the reason, instead of blocking everything
behind it or vanishing; `set_aside_count()` reports it and an operator can inspect it with sqlite3.

State: a generic key/value table (`state`, JSON values) for what the agent's parts must find again after
a restart (the rules engine's open incidents, timers and silences). `put_many(messages, state)` writes
both in one transaction, so the decisions on disk are always those whose events are on disk, and
`load_state()` reads it back at start.

Threads: one connection shared under a lock, so the asyncio agent may call any method through
`asyncio.to_thread` from any executor thread. SQLite serialises writers anyway; the lock only makes
the sharing of one connection safe.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from gridedge.cloud_bridge.message import OutMessage, StoredMessage
from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.errors import GridEdgeError
from gridedge.edge.event import Severity

SCHEMA_VERSION = 2  # 2: the state table

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
);
CREATE INDEX IF NOT EXISTS outbox_by_severity ON outbox (severity, id);
CREATE TABLE IF NOT EXISTS dropped (severity TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS set_aside (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    severity TEXT NOT NULL,
    created_at REAL NOT NULL,
    reason TEXT NOT NULL,
    set_aside_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""

_SIZE = "length(CAST(topic AS BLOB)) + length(payload)"

DROP_ORDER = (Severity.INFO, Severity.MINOR, Severity.MAJOR)
"""Which messages give way when the outbox is full, first to last; critical ones never do."""


@dataclass(frozen=True, slots=True)
class Bound:
    """How much the outbox may hold (see the module's docstring for what happens when full)."""

    max_messages: int = 1_000_000
    max_bytes: int = 1 << 30

    def __post_init__(self) -> None:
        if self.max_messages < 1 or self.max_bytes < 1:
            raise ValueError("an outbox bound must allow at least one message and one byte")


class OutboxError(GridEdgeError):
    """The outbox file cannot give the durability it promises (wrong journal mode, newer schema)."""


class Outbox:
    """Durable FIFO of messages for the broker, in one SQLite file."""

    def __init__(self, path: Path | str, *, bound: Bound | None = None, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.bound = bound or Bound()
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
            for statement in _SCHEMA.split(";"):
                self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        count, size = self._conn.execute(f"SELECT count(*), coalesce(sum({_SIZE}), 0) FROM outbox").fetchone()
        self._count, self._bytes = int(count), int(size)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """All or nothing. A COMMIT that fails (a full disk: SQLITE_FULL leaves the transaction open) is
        rolled back too, so the next transaction can begin once the disk takes writes again."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def put_many(
        self, messages: Sequence[OutMessage], state: Mapping[str, object | None] | None = None
    ) -> Counter[Severity]:
        """Store `messages` in order and apply `state` (key -> JSON-able value, None: delete), all or
        none; durable when this returns.

        Returns how many messages of each severity were dropped to stay within the bound (usually none).
        """
        if not messages and not state:
            return Counter()
        now = self._clock.now()
        rows = [(m.topic, m.payload, m.qos, int(m.retain), m.severity.value, now) for m in messages]
        added = sum(len(m.topic.encode()) + len(m.payload) for m in messages)
        upserts = [(k, json.dumps(v, separators=(",", ":"))) for k, v in (state or {}).items() if v is not None]
        deletes = [(k,) for k, v in (state or {}).items() if v is None]
        with self._lock:
            with self._transaction():
                self._conn.executemany(
                    "INSERT INTO outbox (topic, payload, qos, retain, severity, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                if upserts:
                    self._conn.executemany(
                        "INSERT INTO state (key, value) VALUES (?, ?)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        upserts,
                    )
                if deletes:
                    self._conn.executemany("DELETE FROM state WHERE key = ?", deletes)
                dropped, freed = self._make_room(self._count + len(rows), self._bytes + added)
            self._count += len(rows) - sum(dropped.values())
            self._bytes += added - freed
        return dropped

    def _make_room(self, count: int, size: int) -> tuple[Counter[Severity], int]:
        """Drop the oldest messages of the lowest severities until within the bound; inside a transaction."""
        dropped: Counter[Severity] = Counter()
        freed = 0
        for severity in DROP_ORDER:
            if count - dropped.total() <= self.bound.max_messages and size - freed <= self.bound.max_bytes:
                break
            victims = []
            rows = self._conn.execute(f"SELECT id, {_SIZE} FROM outbox WHERE severity = ? ORDER BY id", (severity,))
            for row_id, row_size in rows:
                if count - dropped.total() <= self.bound.max_messages and size - freed <= self.bound.max_bytes:
                    break
                victims.append((row_id,))
                dropped[severity] += 1
                freed += row_size
            rows.close()
            self._conn.executemany("DELETE FROM outbox WHERE id = ?", victims)
            if dropped[severity]:
                self._conn.execute(
                    "INSERT INTO dropped (severity, count) VALUES (?, ?)"
                    " ON CONFLICT (severity) DO UPDATE SET count = count + excluded.count",
                    (severity.value, dropped[severity]),
                )
        return dropped, freed

    def load_state(self, prefix: str = "") -> dict[str, object]:
        """The state table (keys starting with `prefix`), as `put_many` left it."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, value FROM state WHERE key >= ? AND key < ? ORDER BY key", (prefix, prefix + "\U0010ffff")
            ).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def put(self, message: OutMessage) -> Counter[Severity]:
        """Store one message; durable when this returns. Prefer `put_many` for several (one fsync)."""
        return self.put_many([message])

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
        if ids:
            with self._lock:
                with self._transaction():
                    count, freed = self._delete(ids)
                self._count, self._bytes = self._count - count, self._bytes - freed

    def set_aside(self, ids: Sequence[int], reason: str) -> None:
        """Move messages the broker refused for good out of the queue, keeping them with the reason."""
        if not ids:
            return
        with self._lock:
            with self._transaction():
                self._conn.executemany(
                    "INSERT OR IGNORE INTO set_aside (id, topic, payload, severity, created_at, reason, set_aside_at)"
                    " SELECT id, topic, payload, severity, created_at, ?, ? FROM outbox WHERE id = ?",
                    [(reason, self._clock.now(), i) for i in ids],
                )
                count, freed = self._delete(ids)
            self._count, self._bytes = self._count - count, self._bytes - freed

    def _delete(self, ids: Sequence[int]) -> tuple[int, int]:
        """Delete inside the caller's transaction; how many rows and bytes went (for the running count
        and size, applied once the transaction committed)."""
        count, freed = 0, 0
        for row_id in ids:
            row = self._conn.execute(f"DELETE FROM outbox WHERE id = ? RETURNING {_SIZE}", (row_id,)).fetchone()
            if row is not None:
                count, freed = count + 1, freed + int(row[0])
        return count, freed

    def record_attempt(self, ids: Sequence[int]) -> None:
        """Count a delivery that was tried and not acknowledged, so a stuck message is visible."""
        if not ids:
            return
        with self._lock, self._transaction():
            self._conn.executemany("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", [(i,) for i in ids])

    def depth(self) -> int:
        """How many messages wait for the broker."""
        with self._lock:
            return self._count

    def size(self) -> int:
        """Bytes (topics and payloads) waiting for the broker; what `Bound.max_bytes` limits."""
        with self._lock:
            return self._bytes

    def dropped(self) -> dict[Severity, int]:
        """Messages dropped by the full-outbox policy since the file was created, per severity."""
        with self._lock:
            rows = self._conn.execute("SELECT severity, count FROM dropped").fetchall()
        return {Severity(s): int(n) for s, n in rows}

    def set_aside_count(self) -> int:
        """Messages the broker refused for good (see `set_aside`)."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM set_aside").fetchone()[0])

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
