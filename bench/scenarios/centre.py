"""Scenario `centre`: how fast the grid centre turns grid events into cases, and how fast it lists them.

- events_per_s_{pg,sqlite}_{replicas}: 1 or 2 centre ingest replicas (one MQTT 5 shared subscription,
  `$share/centre/...`, persistent sessions) subscribe and go away; EVENTS distinct grid events are
  published at QoS 1 to a real Mosquitto, which queues them; the replicas come back and the figure is
  events divided by the time from their return to the last case committed (ingest capacity, not the
  publisher's speed). Each replica is its own OS process (`python -m gridedge center --config ...`: same
  database and broker, its own client_id and HTTP port), as a deployment runs them; the bench polls each
  one's /api/health to see when it subscribes and the database to see when the last case is in, so
  process start-up is not counted. Per replica is the total divided by the replica count; the replicas
  and PostgreSQL share one machine's cores, so `pg_2` per replica is a floor, not a second machine.
- case_list_open_100k_community_http_p99_ms: p99 latency of a community officer's case list (the console's
  pages, its live fragment and the JSON API, 50 cases a page) over real HTTP, with 100,000 open cases in
  their community bulk-inserted into PostgreSQL.
- case_list_p99_ms: p99 latency of `GET /api/cases` (through the FastAPI app in-process, an admin's API
  token) over a mix of list queries, with CASES cases bulk-inserted into PostgreSQL by one server-side
  INSERT ... SELECT generate_series.
- case_list_1m_community_http_p99_ms: the same CASES cases (1,000,000; 100,000 with --quick), the pages of
  the 100k run over real HTTP as the officer of one of their 20 communities.
PostgreSQL is a throwaway cluster (initdb) on loopback with its durable defaults (fsync, synchronous_commit
and full_page_writes on); SQLite is a file with WAL and synchronous=FULL, as the centre runs it.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from bench import settings
from bench.harness import Measured
from bench.postgres import postgres_cluster
from gridedge.center.accounts import Accounts
from gridedge.center.store import CaseStore
from gridedge.devtools.broker import MosquittoProcess, free_port
from gridedge.edge.event import EventStatus, Evidence, EvidenceReading, GridEvent, Severity, Source
from gridedge.edge.grid import GridCell, GridUnit, Location
from gridedge.edge.topics import event_topic

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
GRIDS = [("D01", f"S{s:02d}", f"C{c:02d}", f"G{g:02d}") for s in range(1, 6) for c in range(1, 5) for g in range(1, 6)]
LIST_TOKEN = "bench-list-token-0123456789abcdef"  # noqa: S105 (a throwaway database's token)
POLL_S = 0.01
"""How often the bench asks the replicas whether they subscribed, and the database how many cases it holds."""
START_LIMIT_S = 60
"""How long replica processes may take to start and subscribe (imports on a busy 2-core machine)."""
STOP_TIMEOUT_S = 10


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
    stored: list[int]
    duplicates: int
    cases: int
    revisions: int
    connect_skew_s: float


@dataclass
class Replica:
    """One centre replica: `gridedge center` in its own OS process, with its own config and HTTP port."""

    config: Path
    http_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    last_not_connected: float = 0.0
    connected_at: float | None = None

    def start(self) -> None:
        self.connected_at = None
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gridedge", "center", "--config", str(self.config), "--log-level", "warning"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.last_not_connected = time.perf_counter()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        self.process = None

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"centre replica {self.config.name} exited {self.process.returncode}:\n{tail}")

    def poll_connected(self, http: httpx.Client) -> bool:
        """Ask the replica's /api/health; remembers the last time it was seen not yet subscribed."""
        if self.connected_at is not None:
            return True
        self.check_alive()
        try:
            connected = bool(http.get(f"http://127.0.0.1:{self.http_port}/api/health").json()["broker_connected"])
        except httpx.ConnectError:
            connected = False  # not listening yet: the socket is bound before ingest starts
        except httpx.HTTPError:
            return False  # busy or slow: says nothing about when it subscribed
        now = time.perf_counter()
        if connected:
            self.connected_at = now
        else:
            self.last_not_connected = now
        return connected

    def stats(self, http: httpx.Client) -> dict[str, Any]:
        response = http.get(
            f"http://127.0.0.1:{self.http_port}/api/stats", headers={"Authorization": f"Bearer {LIST_TOKEN}"}
        )
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


def _replicas(work: Path, broker_port: int, url: str, replicas: int, group: str) -> list[Replica]:
    made = []
    for i in range(replicas):
        client_id = f"{group}-{i}"
        port = free_port()
        config = {
            "broker": {"host": "127.0.0.1", "port": broker_port},
            "database": url,
            "client_id": client_id,
            "shared_group": group,
            "http": {"host": "127.0.0.1", "port": port},
            "escalation_check_s": 3600,
        }
        path = work / f"{client_id}.yaml"
        path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
        made.append(Replica(config=path, http_port=port, log=work / f"{client_id}.log"))
    return made


def _until_connected(replicas: list[Replica], http: httpx.Client, limit_s: float) -> None:
    deadline = time.perf_counter() + limit_s
    while True:
        connected = [r.poll_connected(http) for r in replicas]  # ask every one, each round
        if all(connected):
            return
        if time.perf_counter() > deadline:
            raise TimeoutError(f"centre replicas not subscribed within {limit_s:.0f} s")
        time.sleep(POLL_S)


def _prepare(url: str) -> None:
    """Migrate once and register the bench's API token before any replica starts, so replicas neither
    race on the schema nor on seeding an account."""
    from gridedge.center.access import Role

    store = CaseStore(url)
    try:
        store.migrate()
        accounts = Accounts(store.engine)
        if accounts.officer("bench-admin") is None:
            accounts.add_officer("bench-admin", "Bench", Role.ADMIN, (), "bench-password")
            accounts.register("bench-admin", LIST_TOKEN, kind="api", label="bench")
    finally:
        store.close()


def ingest_run(
    work: Path, broker_port: int, url: str, replicas: int, count: int, *, group: str = "centre", limit_s: float = 120
) -> IngestRun:
    """Publish `count` distinct events and wait until the replica processes stored them all (at most `limit_s`).

    The replicas' sessions outlive the run (that is what persistent sessions are for), so runs on one
    broker need their own `group`: an earlier run's sleeping members would otherwise take their share."""
    _prepare(url)
    members = _replicas(work, broker_port, url, replicas, group)
    store = CaseStore(url)
    try:
        with httpx.Client(timeout=5) as http:
            # Subscribe once, go away, let the broker queue the whole load, then time the replicas draining
            # it: that measures what the centre can ingest, not how fast one Python publisher can offer.
            for r in members:
                r.start()
            _until_connected(members, http, START_LIMIT_S)
            for r in members:
                r.stop()
            events = map(grid_event, range(count))
            messages = [(event_topic(e.grid.codes(), e.source.gateway_id), e.to_json()) for e in events]
            publish_all(broker_port, messages)
            for r in members:
                r.start()
            # The drain starts when the first replica subscribes (the broker then hands over its queue),
            # which lies after the last time that replica answered "not connected"; it ends when the
            # database holds every case. Process start-up (imports, migration check) is not counted.
            deadline = time.perf_counter() + START_LIMIT_S + limit_s
            cases = 0
            while True:
                for r in members:
                    r.poll_connected(http)
                cases = store.count_cases()
                if cases >= count:
                    finished = time.perf_counter()
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{group}: {cases} of {count} cases stored in time")
                time.sleep(POLL_S)
            _until_connected(members, http, 1)
            started = min(r.last_not_connected for r in members)
            connected = [r.connected_at or started for r in members]
            stats = [r.stats(http) for r in members]
        return IngestRun(
            seconds=finished - started,
            received=[s["received"] for s in stats],
            stored=[s["stored"] for s in stats],
            duplicates=sum(s["duplicates"] for s in stats),
            cases=store.count_cases(),
            revisions=store.count_revisions(),
            connect_skew_s=max(connected) - min(connected),
        )
    finally:
        for r in members:
            r.stop()
        store.close()


BULK_CASES = """
INSERT INTO cases (event_id, seq, source_status, category, severity, severity_rank, title,
  district_code, district_name, street_code, street_name, community_code, community_name, grid_code, grid_name,
  site, address, gateway_id, device_id, started_at, observed_at, ended_at, opened_at, updated_at,
  state, level, unit, state_since, due_at, escalations, reopened, closed_at, shown_event_id, occurrences, last_seen_at)
SELECT 'evt-bulk-' || lpad(n::text, 8, '0'), 1, 'firing',
  (ARRAY['fire_safety.smoke_alarm', 'street_order.outside_shop_operation', 'device.offline',
         'device.low_battery'])[n % 4 + 1],
  (ARRAY['critical','major','minor','info'])[n % 4 + 1], n % 4, 'Bulk case',
  'D01', '', 'S' || lpad((n % 5 + 1)::text, 2, '0'), '', 'C' || lpad((n / 5 % 4 + 1)::text, 2, '0'), '',
  'G' || lpad((n / 20 % 50 + 1)::text, 2, '0'), '', 'Block', '', 'gw-bulk', 'SA-bulk',
  1.7e9 + n, 1.7e9 + n, NULL, 1.7e9 + n, 1.7e9 + n,
  (ARRAY['reported','filed','dispatched','handled','closed','evaluated','rejected'])[n % 7 + 1],
  'grid', NULL, 1.7e9 + n, 1.7e9 + n + 3600, 0, 0, NULL, 'evt-bulk-' || lpad(n::text, 8, '0'), 1, 1.7e9 + n
FROM generate_series(1, :count) AS n
"""
BULK_T0 = 1.7e9
"""The bulk cases open one a second from this time."""

OPEN_CASES = 100_000
OPEN_CASES_NOW = 1.8e9
BULK_OPEN_CASES = """
INSERT INTO cases (event_id, shown_event_id, seq, source_status, category, severity, severity_rank, title,
  district_code, district_name, street_code, street_name, community_code, community_name, grid_code, grid_name,
  site, address, gateway_id, device_id, started_at, observed_at, opened_at, updated_at, last_seen_at,
  state, level, state_since, due_at, escalations, reopened, occurrences)
SELECT 'evt-open-' || lpad(n::text, 8, '0'), 'evt-open-' || lpad(n::text, 8, '0'), 1, 'firing',
  (ARRAY['fire_safety.smoke_alarm', 'street_order.outside_shop_operation', 'device.offline',
         'device.low_battery'])[n % 4 + 1],
  (ARRAY['critical','major','minor','info'])[n % 4 + 1], n % 4, 'Open case',
  'D01', '', 'S01', '', 'C01', '', 'G' || lpad((n % 50 + 1)::text, 2, '0'), '', 'Block ' || (n % 400),
  n || ' Willow Road', 'gw-' || lpad((n % 50)::text, 3, '0'), 'SA-' || lpad(n::text, 6, '0'),
  :now - 200000 + n, :now - 200000 + n, :now - 200000 + n, :now - 200000 + n, :now - 200000 + n,
  (ARRAY['reported','filed','dispatched','handled'])[n % 4 + 1], 'community', :now - 200000 + n,
  :now + n - 500, CASE WHEN n % 1000 = 0 THEN 1 ELSE 0 END, 0, 1 + n % 3
FROM generate_series(1, :count) AS n
"""
"""100,000 open cases, all in one community's 50 grids (the officer who sees the most of them); one in
a thousand rose for lateness and the first 500 are past their deadline, so the default order has a
late part to put first, as a real list would."""
HTTP_LIST_QUERIES = [
    "/",
    "/?page=37",
    "/fragments/cases",
    "/?category=street_order.outside_shop_operation",
    "/?q=SA-012345",
    "/?severity=critical&state=filed",
    "/api/cases?limit=50",
    "/api/cases?grid=D01/S01/C01/G07&limit=50",
]
COMMUNITY_PASSWORD = "bench-community-password"  # noqa: S105 (a throwaway database's officer)

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


def case_list_p99_ms(url: str, cases: int, requests: int) -> tuple[float, float, float, float, int]:
    """Bulk-insert `cases`, then time `requests` list calls as an admin in-process (p99, median in ms) and
    `requests // 2` pages over HTTP as the officer of one of the 20 communities (p99, median, cases it sees)."""
    from fastapi.testclient import TestClient

    from gridedge.center.access import Role
    from gridedge.center.api import create_app

    store = CaseStore(url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(text(BULK_CASES), {"count": cases})
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE cases"))  # where autovacuum would be after a bulk load
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
        # Half the bulk cases are past their deadline at this time, so the default order has a late part.
        # Half the requests: the whole bench stays under 15 minutes.
        http_p99, http_median, seen = http_list_p99_ms(store, requests // 2, BULK_T0 + cases / 2)
    finally:
        store.close()
    p99, median = statistics.quantiles(timings, n=100, method="inclusive")[98], statistics.median(timings)
    return p99, median, http_p99, http_median, seen


def case_list_http_p99_ms(url: str, requests: int) -> tuple[float, float]:
    """OPEN_CASES open cases in one community, then `http_list_p99_ms` as that community's officer."""
    store = CaseStore(url)
    try:
        store.migrate()
        with store.engine.begin() as conn:
            conn.execute(text(BULK_OPEN_CASES), {"count": OPEN_CASES, "now": OPEN_CASES_NOW})
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE cases"))  # where autovacuum would be after a bulk load
        p99, median, seen = http_list_p99_ms(store, requests, OPEN_CASES_NOW)
    finally:
        store.close()
    if seen != OPEN_CASES:
        raise RuntimeError(f"the community officer sees {seen} cases, not {OPEN_CASES}")
    return p99, median


def http_list_p99_ms(store: CaseStore, requests: int, now: float) -> tuple[float, float, int]:
    """The centre's app served by uvicorn on loopback at `now`, a community officer of D01/S01/C01 logged in
    through the console's form; time `requests` list pages and fragments over HTTP: (p99 ms, median ms, the
    cases the officer's default list counts)."""
    import asyncio

    from gridedge.center.access import Role
    from gridedge.center.api import create_app
    from gridedge.edge.clock import FakeClock
    from gridedge.serving import embedded_server, listen

    Accounts(store.engine).add_officer("willow", "Bench", Role.COMMUNITY, ("D01", "S01", "C01"), COMMUNITY_PASSWORD)
    app = create_app(store, clock=FakeClock(now), secure_cookies=False)  # plain HTTP on loopback
    server = embedded_server(app, 5)
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), name="bench-centre-http")
    thread.start()
    timings = []
    try:
        while not server.started:
            time.sleep(POLL_S)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            form = re.search(r'name="csrf" value="([^"]*)"', client.get("/login").text)
            token = form.group(1) if form else ""
            login = client.post("/login", data={"username": "willow", "password": COMMUNITY_PASSWORD, "csrf": token})
            if login.status_code != 303:
                raise RuntimeError(f"login refused: {login.status_code}")
            for q in HTTP_LIST_QUERIES:  # warm caches once
                client.get(q).raise_for_status()
            seen = int(client.get("/api/cases?limit=1&total=true").headers["X-Total-Count"])
            for i in range(requests):
                started = time.perf_counter()
                client.get(HTTP_LIST_QUERIES[i % len(HTTP_LIST_QUERIES)]).raise_for_status()
                timings.append((time.perf_counter() - started) * 1000)
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
    return statistics.quantiles(timings, n=100, method="inclusive")[98], statistics.median(timings), seen


def run(quick: bool) -> Measured:
    events = 2_000 if quick else 10_000
    cases = 100_000 if quick else 1_000_000
    requests = 100 if quick else 400  # p99 of 400 is its 4th slowest; 800 cost 2 more minutes
    figures: dict[str, float] = {}
    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gridedge-bench-centre-") as tmp, postgres_cluster(durable=True) as pg:
        work = Path(tmp)
        broker = MosquittoProcess(free_port(), work, persistence=True)
        broker.start()
        try:
            for name, url, replicas in (
                ("pg_1", pg.fresh_database(), 1),
                ("pg_2", pg.fresh_database(), 2),
                ("sqlite_1", f"sqlite:///{work / 'centre.db'}", 1),
            ):
                result = ingest_run(work, broker.port, url, replicas, events, group=f"centre-{name}")
                if result.cases != events or result.revisions != events or sum(result.stored) != events:
                    raise RuntimeError(f"{name}: {result.cases} cases, {sum(result.stored)} stored from {events}")
                figures[f"events_per_s_{name}"] = round(events / result.seconds / replicas, 1)
                figures[f"events_per_s_{name}_total"] = round(events / result.seconds, 1)
                notes[f"received_per_replica_{name}"] = ", ".join(map(str, result.received))
                notes[f"drain_s_{name}"] = (
                    f"{result.seconds:.2f} s, replicas subscribed {result.connect_skew_s:.2f} s apart"
                )
        finally:
            broker.stop()
        p99, median, community_p99, community_median, seen = case_list_p99_ms(pg.fresh_database(), cases, requests)
        http_p99, http_median = case_list_http_p99_ms(pg.fresh_database(), requests)
    figures["case_list_open_100k_community_http_p99_ms"] = round(http_p99, 2)
    figures["case_list_open_100k_community_http_median_ms"] = round(http_median, 2)
    notes["case_list_open_100k_community_http"] = (
        f"{OPEN_CASES:,} open cases in one community (PostgreSQL), a community officer's console pages and "
        f"API pages over real HTTP (uvicorn on loopback, session cookie), {requests} requests over "
        f"{len(HTTP_LIST_QUERIES)} queries: " + ", ".join(HTTP_LIST_QUERIES)
    )
    figures["case_list_p99_ms"] = round(p99, 2)
    figures["case_list_median_ms"] = round(median, 2)
    notes["case_list"] = (
        f"{cases:,} cases in PostgreSQL, an admin in-process (API token), {requests} requests over "
        f"{len(LIST_QUERIES)} list queries"
    )
    figures["case_list_1m_community_http_p99_ms"] = round(community_p99, 2)
    figures["case_list_1m_community_http_median_ms"] = round(community_median, 2)
    notes["case_list_1m_community_http"] = (
        f"the same {cases:,} cases, a community officer (D01/S01/C01, whose default list counts {seen:,} of "
        f"them) over real HTTP, {requests // 2} requests over the queries of the 100k run"
    )
    return Measured(
        figures=figures,
        bounds=f"{events:,} events per run (120 s cap each); {cases:,} bulk cases, {requests} list requests",
        notes=notes,
        settings={
            "broker": settings.broker(),
            "qos": "events published at QoS 1 (as gateways do); centre subscribes at QoS 1, acks after commit",
            "postgresql": settings.CENTRE_POSTGRES,
            "sqlite": settings.CENTRE_SQLITE,
        },
    )
