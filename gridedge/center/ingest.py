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
from typing import Any, TypeVar

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as TimeoutError_

from gridedge.center.admission import AdmissionError, Reason, admit
from gridedge.center.gateways import STATUS_FILTER, GatewayBoard, StatusRefusedError
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
        self.gateways = GatewayBoard()  # each gateway's retained status: silences, held incidents, storage

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
        await client.subscribe(STATUS_FILTER, qos=1)  # not shared: every replica keeps every gateway's status
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
        messages = client.messages
        async for first in messages:
            batch = [first]
            while len(messages) and len(batch) < MAX_BATCH:
                batch.append(await anext(messages))
            await self._ingest(batch)
            for message in batch:
                client._client.ack(message.mid, message.qos)

    async def _ingest(self, batch: list[aiomqtt.Message]) -> None:
        letters: list[DeadLetterRow] = []
        statuses = [m for m in batch if m.topic.matches(STATUS_FILTER)]
        if statuses:
            self._take_status(statuses)
            batch = [m for m in batch if not m.topic.matches(STATUS_FILTER)]
        snapshots = [m for m in batch if m.topic.matches(EVIDENCE_FILTER)]
        if snapshots:
            await self._store_evidence(snapshots, letters)
        admitted: list[tuple[aiomqtt.Message, GridEvent]] = []
        for m in batch:
            if not m.topic.matches(EVIDENCE_FILTER) and (e := self._admit(m, letters)) is not None:
                admitted.append((m, e))
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

    def _take_status(self, messages: list[aiomqtt.Message]) -> None:
        for m in messages:
            if not isinstance(m.payload, bytes | bytearray) or not m.payload:
                continue  # a cleared retained status
            try:
                self.gateways.update(m.topic.value, bytes(m.payload))
            except StatusRefusedError as refused:
                log.warning("refused gateway status: %s", refused)

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


class PermanentStoreError(GridEdgeError):
    """The database refused a write for a reason a retry will not change."""


def transient(err: SQLAlchemyError) -> bool:
    """A lost or busy database (retry), rather than rows it refuses (do not).

    An IntegrityError is a replica that stored the same revision first: the retry finds it stored."""
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(err, OperationalError | InterfaceError | IntegrityError | TimeoutError_)
