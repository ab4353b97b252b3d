"""Scenario `centre`: how fast the grid centre turns grid events into cases, and how fast it lists them.

- events_per_s_{pg,sqlite}_{replicas}: 1 or 2 centre ingest replicas (one MQTT 5 shared subscription,
  `$share/centre/...`, persistent sessions) subscribe and go away; EVENTS distinct grid events are
  published at QoS 1 to a real Mosquitto, which queues them; the replicas come back and the figure is
  events divided by the time from their return to the last case committed (ingest capacity, not the
  publisher's speed). The replicas share this one process and event loop; per replica is the total
  divided by the replica count, so on one machine `pg_2` shows how far two replicas contend.
- case_list_p99_ms: p99 latency of `GET /api/cases` (through the FastAPI app, authorised by an API
  token) over a mix of officers' list queries, with CASES cases bulk-inserted into PostgreSQL by one
  server-side INSERT ... SELECT generate_series.
PostgreSQL is a throwaway cluster (initdb) on loopback with fsync off; SQLite is a file with WAL and
synchronous=FULL, as the centre runs it.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from bench.harness import Measured
from bench.postgres import postgres_cluster
from gridedge.center.accounts import Accounts
from gridedge.center.ingest import Ingest
from gridedge.center.settings import CenterConfig
from gridedge.center.store import CaseStore
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.event import EventStatus, Evidence, EvidenceReading, GridEvent, Severity, Source
from gridedge.edge.grid import GridCell, GridUnit, Location
from gridedge.edge.topics import event_topic
from gridedge.gateway.broker import MosquittoProcess, free_port

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
GRIDS = [("D01", f"S{s:02d}", f"C{c:02d}", f"G{g:02d}") for s in range(1, 6) for c in range(1, 5) for g in range(1, 6)]
LIST_TOKEN = "bench-list-token-0123456789abcdef"  # noqa: S105 (a throwaway database's token)


def grid_event(i: int) -> GridEvent:
    codes = GRIDS[i % len(GRIDS)]
    observed = T0 + timedelta(milliseconds=i)
    return GridEvent(
        event_id=f"evt-bench-{i:08d}",
        seq=1,
        status=EventStatus.FIRING,
        dedup_key=f"SA-{i:06d}:smoke",
        category="fire_safety.smoke_alarm",
        severity=Severity.CRITICAL,
        title="Smoke alarm",
        grid=GridCell(
            district=GridUnit(code=codes[0]),
            street=GridUnit(code=codes[1]),
            community=GridUnit(code=codes[2]),
            grid=GridUnit(code=codes[3]),
        ),
        location=Location(site=f"Block {i % 400}"),
        source=Source(gateway_id=f"gw-{i % 50:03d}", device_id=f"SA-{i:06d}"),
        started_at=observed,
        observed_at=observed,
        evidence=Evidence(readings=[EvidenceReading(device_id=f"SA-{i:06d}", point="smoke", value=True, ts=observed)]),
    )


def publish_all(port: int, messages: list[tuple[str, bytes]], window: int = 1000) -> None:
    """paho with a bounded window of unacknowledged QoS 1 messages; returns when all are acknowledged."""
    slots = threading.BoundedSemaphore(window)
    done = threading.Event()
    acked = [0]

    def on_publish(*_: object) -> None:
        slots.release()
        acked[0] += 1
        if acked[0] == len(messages):
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-centre-publisher")
    client.max_inflight_messages_set(window)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload in messages:
            slots.acquire()
            client.publish(topic, payload, qos=1)
        done.wait(120)
    finally:
        client.loop_stop()
        client.disconnect()


@dataclass
class IngestRun:
    seconds: float
    received: list[int]
    stored: int
    duplicates: int
    cases: int
    revisions: int


async def ingest_run(
    broker_port: int, url: str, replicas: int, count: int, *, group: str = "centre", limit_s: float = 120
) -> IngestRun:
    """Publish `count` distinct events and wait until the replicas stored them all (at most `limit_s`).

    The replicas' sessions outlive the run (that is what persistent sessions are for), so runs on one
    broker need their own `group`: an earlier run's sleeping members would otherwise take their share."""
    stores = [CaseStore(url) for _ in range(replicas)]
    stores[0].migrate()
    stored = [0]
    all_stored = asyncio.Event()

    def on_stored(events: Sequence[GridEvent]) -> None:
        stored[0] += len(events)
        if stored[0] >= count:
            all_stored.set()

    ingests = [
        Ingest(
            CenterConfig(broker=BrokerConfig(port=broker_port), client_id=f"{group}-{i}", shared_group=group),
            store,
            on_stored=on_stored,
        )
        for i, store in enumerate(stores)
    ]
    # Subscribe once, go away, let the broker queue the whole load, then time the replicas draining it:
    # that measures what the centre can ingest, not how fast one Python publisher can offer.
    tasks: list[asyncio.Task[None]] = []
    try:
        await _stop(await _start(ingests))
        events = map(grid_event, range(count))
        messages = [(event_topic(e.grid.codes(), e.source.gateway_id), e.to_json()) for e in events]
        await asyncio.to_thread(publish_all, broker_port, messages)
        started = time.perf_counter()
        tasks = await _start(ingests)
        async with asyncio.timeout(limit_s):
            await all_stored.wait()
        seconds = time.perf_counter() - started
        return IngestRun(
            seconds=seconds,
            received=[i.stats.received for i in ingests],
            stored=sum(i.stats.stored for i in ingests),
            duplicates=sum(i.stats.duplicates for i in ingests),
            cases=stores[0].count_cases(),
            revisions=stores[0].count_revisions(),
        )
    finally:
        await _stop(tasks)
        for store in stores:
            store.close()


async def _start(ingests: list[Ingest]) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(ingest.run(), name=f"replica-{i}") for i, ingest in enumerate(ingests)]
    async with asyncio.timeout(10):
        while not all(i.stats.broker_connected for i in ingests):  # noqa: ASYNC110 (a flag, no event)
            await asyncio.sleep(0.02)
    return tasks


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)


BULK_CASES = """
INSERT INTO cases (event_id, seq, source_status, category, severity, severity_rank, title,
  district_code, district_name, street_code, street_name, community_code, community_name, grid_code, grid_name,
  site, address, gateway_id, device_id, started_at, observed_at, ended_at, opened_at, updated_at,
  state, level, unit, state_since, due_at, escalations, reopened, closed_at)
SELECT 'evt-bulk-' || lpad(n::text, 8, '0'), 1, 'firing',
  (ARRAY['fire_safety.smoke_alarm', 'street_order.outside_shop_operation', 'device.offline',
         'device.low_battery'])[n % 4 + 1],
  (ARRAY['critical','major','minor','info'])[n % 4 + 1], n % 4, 'Bulk case',
  'D01', '', 'S' || lpad((n % 5 + 1)::text, 2, '0'), '', 'C' || lpad((n / 5 % 4 + 1)::text, 2, '0'), '',
  'G' || lpad((n / 20 % 50 + 1)::text, 2, '0'), '', 'Block', '', 'gw-bulk', 'SA-bulk',
  1.7e9 + n, 1.7e9 + n, NULL, 1.7e9 + n, 1.7e9 + n,
  (ARRAY['reported','filed','dispatched','handled','closed','evaluated','rejected'])[n % 7 + 1],
  'grid', NULL, 1.7e9 + n, 1.7e9 + n + 3600, 0, 0, NULL
FROM generate_series(1, :count) AS n
"""

LIST_QUERIES = [
    "/api/cases",
    "/api/cases?status=all",
    "/api/cases?grid=D01/S02",
    "/api/cases?grid=D01/S03/C02/G07",
    "/api/cases?category=street_order.outside_shop_operation",
    "/api/cases?state=dispatched&severity=major",
    "/api/cases?overdue=true",
    "/api/cases?level=grid&offset=200",
]


def case_list_p99_ms(url: str, cases: int, requests: int) -> tuple[float, float]:
    """Bulk-insert `cases`, then time `requests` list calls; (p99, median) in milliseconds."""
    from fastapi.testclient import TestClient

    from gridedge.center.access import Role
    from gridedge.center.api import create_app

    store = CaseStore(url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(text(BULK_CASES), {"count": cases})
        conn.execute(text("ANALYZE cases"))
    accounts = Accounts(store.engine)
    accounts.add_officer("bench-admin", "Bench", Role.ADMIN, (), "bench-password")
    accounts.register("bench-admin", LIST_TOKEN, kind="api", label="bench")
    timings = []
    try:
        with TestClient(create_app(store), headers={"Authorization": f"Bearer {LIST_TOKEN}"}) as client:
            for q in LIST_QUERIES:  # warm caches once
                client.get(q).raise_for_status()
            for i in range(requests):
                started = time.perf_counter()
                client.get(LIST_QUERIES[i % len(LIST_QUERIES)]).raise_for_status()
                timings.append((time.perf_counter() - started) * 1000)
    finally:
        store.close()
    return statistics.quantiles(timings, n=100, method="inclusive")[98], statistics.median(timings)


def run(quick: bool) -> Measured:
    events = 2_000 if quick else 10_000
    cases = 100_000 if quick else 1_000_000
    requests = 200 if quick else 800
    figures: dict[str, float] = {}
    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gridedge-bench-centre-") as tmp, postgres_cluster() as pg:
        work = Path(tmp)
        broker = MosquittoProcess(free_port(), work)
        broker.start()
        try:
            for name, url, replicas in (
                ("pg_1", pg.fresh_database(), 1),
                ("pg_2", pg.fresh_database(), 2),
                ("sqlite_1", f"sqlite:///{work / 'centre.db'}", 1),
            ):
                result = asyncio.run(ingest_run(broker.port, url, replicas, events, group=f"centre-{name}"))
                if result.cases != events or result.revisions != events:
                    raise RuntimeError(f"{name}: {result.cases} cases from {events} events")
                figures[f"events_per_s_{name}"] = round(events / result.seconds / replicas, 1)
                figures[f"events_per_s_{name}_total"] = round(events / result.seconds, 1)
                notes[f"received_per_replica_{name}"] = ", ".join(map(str, result.received))
        finally:
            broker.stop()
        p99, median = case_list_p99_ms(pg.fresh_database(), cases, requests)
    figures["case_list_p99_ms"] = round(p99, 2)
    figures["case_list_median_ms"] = round(median, 2)
    notes["case_list"] = f"{cases:,} cases in PostgreSQL, {requests} requests over {len(LIST_QUERIES)} list queries"
    return Measured(
        figures=figures,
        bounds=f"{events:,} events per run (120 s cap each); {cases:,} bulk cases, {requests} list requests",
        notes=notes,
    )
