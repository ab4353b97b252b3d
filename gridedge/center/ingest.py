"""Ingest: the centre's MQTT subscriber, from the jurisdiction's event topics into the case store.

Nothing is lost between gateway and store:
- a persistent session (stable client id, clean session off) makes the broker queue QoS 1 events
  while the centre is down or reconnecting (for how long is the broker's setting, e.g. Mosquitto's
  `persistent_client_expiration`). MQTT 3.1.1 by default, so the demo's embedded amqtt broker
  serves the centre too; replicas in a `shared_group` speak MQTT 5 and share `$share/{group}/...`;
- a message is acknowledged to the broker only after its batch is committed (paho manual ack), so
  a crash between receipt and commit means redelivery, and the store's idempotency absorbs it.
The broker's in-flight window bounds what waits unacknowledged here; that is the backpressure.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as TimeoutError_

from gridedge.center.admission import AdmissionError, Reason, admit
from gridedge.center.gateways import STATUS_FILTER, GatewayStatus, StatusError, parse_status, record_status
from gridedge.center.settings import CenterConfig
from gridedge.center.stats import IngestStats
from gridedge.center.store import CaseStore, DeadLetterRow, Outcome
from gridedge.edge.broker import tls_context
from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.errors import GridEdgeError
from gridedge.edge.event import GridEvent
from gridedge.edge.reconnect import Backoff, keep_connected
from gridedge.edge.topics import ROOT, jurisdiction_filter

log = logging.getLogger(__name__)

MAX_BATCH = 500
"""Messages written in one transaction; also bounds the SQL IN lists of a batch."""
EVIDENCE_FILTER = f"{ROOT}/evidence/+/+"
"""Snapshots of every gateway: a gateway's events may be outside this centre's jurisdiction, its
snapshots are tiny by comparison, and the API serves one only to an officer who sees that gateway's cases."""
MAX_SNAPSHOT_BYTES = 2_000_000
MAX_CONFLICT_RETRIES = 3
"""Unique-constraint conflicts retried (a racing replica); more means the rows themselves conflict."""
_GATEWAY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""A gateway id as the event contract writes it (edge.grid.Code)."""
T = TypeVar("T")
R = TypeVar("R")
SESSION_EXPIRY_S = 7 * 86400
"""How long the broker keeps a shared-subscription replica's session while it is away."""


class Ingest:
    """Subscribes, admits, stores in batches, counts; `on_stored` hears each batch of new revisions."""

    def __init__(
        self,
        config: CenterConfig,
        store: CaseStore,
        *,
        on_stored: Callable[[Sequence[GridEvent]], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._on_stored = on_stored
        self._clock = clock or SystemClock()
        self.stats = IngestStats()

    async def run(self) -> None:
        """Run until cancelled, reconnecting whenever the broker goes away."""
        await keep_connected(self._session, f"broker {self._config.broker.url}", (aiomqtt.MqttError,))

    async def _session(self) -> None:
        async with self._client() as client:
            await self._subscribe(client)
            try:
                await self._consume(client)
            finally:
                self.stats.broker_connected = False

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        group = self._config.shared_group
        share = f"$share/{group}/" if group is not None else ""
        topic_filter = share + jurisdiction_filter(self._config.jurisdiction)
        await client.subscribe(topic_filter, qos=1)
        await client.subscribe(share + EVIDENCE_FILTER, qos=1)
        await client.subscribe(STATUS_FILTER, qos=1)  # retained: every replica keeps every gateway's status
        self.stats.broker_connected = True
        log.info("ingest subscribed to %s on %s", topic_filter, self._config.broker.url)

    def _client(self) -> aiomqtt.Client:
        broker = self._config.broker
        session: dict[str, Any]
        if self._config.shared_group is None:
            session = {"protocol": aiomqtt.ProtocolVersion.V311, "clean_session": False}
        else:
            # Shared subscriptions are MQTT 5; a session expiry keeps this replica's queue across reconnects.
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho is untyped here
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
            session = {"protocol": aiomqtt.ProtocolVersion.V5, "clean_start": False, "properties": properties}
        client = aiomqtt.Client(
            **broker.connect_args(),
            identifier=self._config.client_id,
            tls_context=tls_context(broker, self._config.tls),
            **session,
        )
        # aiomqtt does not expose paho's manual ack; its paho client is the one place to switch it on.
        client._client.manual_ack_set(True)
        return client

    async def _consume(self, client: aiomqtt.Client) -> None:
        """Admit each message as it arrives while a writer stores what was admitted before, batch by
        batch, and acknowledges a batch once it is committed: parsing and validating the next messages
        overlaps the database's commit of the previous ones. Batches are written one at a time, in
        arrival order, so one incident's revisions reach the store in the order they came."""
        queue = _Queue()
        reader = asyncio.create_task(self._read(client, queue), name="center-ingest-reader")
        writer = asyncio.create_task(self._write_batches(client, queue), name="center-ingest-writer")
        tasks: list[asyncio.Task[Any]] = [reader, writer]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if reader.done() and not writer.done():
                # The broker went away: the batch being committed still commits and counts (its acks are
                # lost, so it comes again as duplicates); what waits behind it comes again anyway.
                queue.received.clear()
                tasks.append(asyncio.create_task(queue.idle.wait(), name="center-ingest-idle"))
                await asyncio.wait(tasks[1:], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        for task in (writer, reader):
            if not task.cancelled() and (err := task.exception()) is not None:
                raise err

    async def _read(self, client: aiomqtt.Client, queue: _Queue) -> None:
        async for message in client.messages:
            queue.received.append(self._receive(message))
            queue.arrived.set()

    async def _write_batches(self, client: aiomqtt.Client, queue: _Queue) -> None:
        while True:
            queue.idle.set()
            await queue.arrived.wait()
            queue.idle.clear()
            queue.arrived.clear()
            while queue.received:
                batch = queue.received[:MAX_BATCH]
                del queue.received[:MAX_BATCH]
                await self._ingest(batch)
                for r in batch:
                    client._client.ack(r.message.mid, r.message.qos)

    def _receive(self, message: aiomqtt.Message) -> _Received:
        """Sort a message by its topic; an event is admitted here (refused ones become dead letters)."""
        if message.topic.matches(EVIDENCE_FILTER):
            return _Received(message, _Kind.EVIDENCE)
        if message.topic.matches(STATUS_FILTER):
            return _Received(message, _Kind.STATUS)
        letters: list[DeadLetterRow] = []
        event = self._admit(message, letters)
        return _Received(message, _Kind.EVENT, event, letters[0] if letters else None)

    async def _ingest(self, batch: list[_Received]) -> None:
        letters = [r.letter for r in batch if r.letter is not None]
        snapshots = [r.message for r in batch if r.kind is _Kind.EVIDENCE]
        if snapshots:
            await self._store_evidence(snapshots, letters)
        statuses = [r.message for r in batch if r.kind is _Kind.STATUS]
        if statuses:
            await self._store_statuses(statuses, letters)
        admitted = [(r.message, r.event) for r in batch if r.event is not None]
        if admitted:
            outcomes = await self._store_events([e for _, e in admitted], letters, [m for m, _ in admitted])
            fresh = [e for (_, e), o in zip(admitted, outcomes, strict=True) if o is Outcome.NEW]
            self.stats.stored += len(fresh)
            self.stats.duplicates += sum(o is Outcome.DUPLICATE for o in outcomes)
            for (m, e), outcome in zip(admitted, outcomes, strict=True):
                if outcome in (Outcome.FOREIGN_GATEWAY, Outcome.MOVED_GRID):
                    why = f"event {e.event_id} belongs to another gateway or grid"
                    self._refuse(m, Reason(outcome.value), why, letters)
            if fresh and self._on_stored is not None:
                self._on_stored(fresh)
        if letters:
            try:
                await self._until_done(self._store.add_dead_letters, letters, what="dead letters")
            except PermanentStoreError:
                log.error("dropped %d dead letters the database refused (counted in `rejected`)", len(letters))

    def _refuse(self, message: aiomqtt.Message, reason: Reason, detail: str, letters: list[DeadLetterRow]) -> None:
        self.stats.rejected[reason.value] += 1
        topic = message.topic.value
        log.warning("refused message on %s: %s: %s", topic, reason.value, detail)
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        letters.append(DeadLetterRow(topic, reason.value, detail, payload))

    async def _store_evidence(self, messages: list[aiomqtt.Message], letters: list[DeadLetterRow]) -> None:
        """Snapshots are kept by hash, only when the bytes match the hash in their topic."""
        blobs = []
        for m in messages:
            self.stats.received += 1
            _, _, _, gateway_id, sha = m.topic.value.split("/")
            payload = m.payload if isinstance(m.payload, bytes) else b""
            if not _GATEWAY.fullmatch(gateway_id):
                self._refuse(m, Reason.BAD_TOPIC, "the gateway id is not a code", letters)
            elif len(payload) > MAX_SNAPSHOT_BYTES:
                self._refuse(m, Reason.BAD_EVIDENCE, f"{len(payload)} bytes, at most {MAX_SNAPSHOT_BYTES}", letters)
            elif hashlib.sha256(payload).hexdigest() != sha:
                self._refuse(m, Reason.BAD_EVIDENCE, "the bytes do not hash to the name in the topic", letters)
            else:
                blobs.append((sha, gateway_id, payload))
        if blobs:
            try:
                await self._until_done(self._store.add_evidence, blobs, what="snapshots")
            except PermanentStoreError as err:
                for m in messages:
                    self._refuse(m, Reason.STORE_FAILED, str(err.__cause__), letters)

    async def _store_statuses(self, messages: list[aiomqtt.Message], letters: list[DeadLetterRow]) -> None:
        """Gateways' retained statuses: the latest per gateway is kept; a malformed one is counted and dropped."""
        parsed = []
        for m in messages:
            self.stats.received += 1
            payload = m.payload if isinstance(m.payload, bytes) else b""
            try:
                parsed.append((parse_status(m.topic.value, payload), payload))
            except StatusError as err:
                self._refuse(m, Reason.BAD_STATUS, str(err), letters)
        if parsed:
            try:
                await self._until_done(self._record_statuses, parsed, what="statuses")
            except PermanentStoreError as err:
                log.error("dropped %d gateway statuses the database refused: %s", len(parsed), err.__cause__)
                return
            if self._on_stored is not None:
                self._on_stored([])

    def _record_statuses(self, statuses: Sequence[tuple[GatewayStatus, bytes]], now: float) -> None:
        for status, payload in statuses:
            record_status(self._store.engine, status, payload, now)

    def _admit(self, message: aiomqtt.Message, letters: list[DeadLetterRow]) -> GridEvent | None:
        self.stats.received += 1
        payload = message.payload if isinstance(message.payload, bytes) else b""
        try:
            return admit(message.topic.value, payload)
        except AdmissionError as rejected:
            self._refuse(message, rejected.reason, f"{rejected.field}: {rejected.detail}", letters)
            return None

    async def _store_events(
        self, events: list[GridEvent], letters: list[DeadLetterRow], messages: list[aiomqtt.Message]
    ) -> list[Outcome | None]:
        """Store a batch; when the database refuses it for good, store one by one and dead-letter
        the revisions it refuses (outcome None), so one bad row never holds up the others."""
        try:
            return list(await self._until_done(self._store.add_many, events, what="events"))
        except PermanentStoreError as err:
            if len(events) == 1:
                self._refuse(messages[0], Reason.STORE_FAILED, str(err.__cause__), letters)
                return [None]
        outcomes: list[Outcome | None] = []
        for i in range(len(events)):
            outcomes += await self._store_events(events[i : i + 1], letters, messages[i : i + 1])
        return outcomes

    async def _until_done(self, write: Callable[[Sequence[T], float], R], items: Sequence[T], *, what: str) -> R:
        """Store a batch, retrying while the database is unreachable: the messages stay unacknowledged
        meanwhile, so the broker holds back more of them instead of this process piling them up.
        An error that retrying cannot fix (the database refusing these rows) is PermanentStoreError."""
        backoff = Backoff(initial=0.5)
        conflicts = 0
        while True:
            try:
                return await asyncio.to_thread(write, items, self._clock.now())
            except SQLAlchemyError as err:
                conflicts += isinstance(err, IntegrityError)
                if not transient(err) or conflicts > MAX_CONFLICT_RETRIES:
                    log.error("storing %d %s refused by the database: %s", len(items), what, err)
                    raise PermanentStoreError(what) from err
                delay = backoff.next_delay()
                log.exception("storing %d %s failed; retrying in %.1fs", len(items), what, delay)
                await asyncio.sleep(delay)


class _Kind(Enum):
    EVENT = "event"
    EVIDENCE = "evidence"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class _Received:
    """A message waiting for the writer; an event already admitted (`event`) or refused (`letter`)."""

    message: aiomqtt.Message
    kind: _Kind
    event: GridEvent | None = None
    letter: DeadLetterRow | None = None


@dataclass(slots=True)
class _Queue:
    """Admitted messages from the reader to the writer; unbounded here because the broker's in-flight
    window already bounds what is unacknowledged."""

    received: list[_Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while the writer waits for messages (no batch in hand)."""


class PermanentStoreError(GridEdgeError):
    """The database refused a write for a reason a retry will not change."""


def transient(err: SQLAlchemyError) -> bool:
    """A lost or busy database (retry), rather than rows it refuses (do not).

    An IntegrityError is a replica that stored the same revision first: the retry finds it stored."""
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(err, OperationalError | InterfaceError | IntegrityError | TimeoutError_)
