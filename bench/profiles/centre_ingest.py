"""Profile one centre replica draining queued events into durable PostgreSQL, and say where the cores go.

`python -m bench.profiles.centre_ingest [EVENTS]` runs what the `centre` scenario's `pg_1` run does (a
real Mosquitto on the bench's limits, a throwaway durable PostgreSQL cluster, one `gridedge center`
process): the replica subscribes and goes away, EVENTS events are queued for it, it comes back, and py-spy
records it over the drain. Prints each process's CPU share over the drain (the replica, PostgreSQL's
processes, Mosquitto), the statements and commits PostgreSQL counted, and the replica's samples by stage.
The text it prints is kept as bench/profiles/centre-ingest.txt.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import psycopg

from bench.postgres import postgres_cluster
from bench.profiles.spy import recording, stages
from bench.scenarios import centre
from gridedge.center.store import CaseStore
from gridedge.devtools.broker import MosquittoProcess, free_port
from gridedge.edge.topics import event_topic

# A sample goes to the first stage (in this order) that has a frame in its stack.
STAGES = (
    ("admission: JSON parse and validation (center/admission.py, pydantic)", "center/admission.py"),
    ("waiting for PostgreSQL: round trips and the commit's fsync (psycopg's Connection.wait)", "Connection.wait ("),
    ("the store: building rows and SQL, psycopg sending (center/store.py)", "center/store.py"),
    ("dead letters, snapshots, statuses (other ingest writes)", "center/gateways.py"),
    ("MQTT in and PUBACKs: the bulk subscriber's reads, parse and writes (edge/mqtt_wire.py)", "edge/mqtt_wire.py"),
    ("MQTT in and PUBACKs: paho's packet reads and writes, aiomqtt's queue (before the bulk subscriber)", "paho/"),
    ("ingest's reader and writer (center/ingest.py)", "center/ingest.py"),
    ("the HTTP server (uvicorn)", "uvicorn/"),
    ("asyncio: the event loop, transports", "asyncio/"),
    ("threads' hand-offs (executor queues)", "concurrent/futures"),
)


def _postgres() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(p.cpu_times()[:2])
    return total


def main(count: int) -> None:
    load = psutil.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="gridedge-profile-") as tmp,
        postgres_cluster(durable=True) as pg,
    ):
        work = Path(tmp)
        broker = MosquittoProcess(free_port(), work, persistence=True)
        broker.start()
        assert broker.process is not None
        url = pg.fresh_database()
        database = url.rsplit("/", 1)[1]
        centre._prepare(url)
        [replica] = centre._replicas(work, broker.port, url, 1, "profile")
        try:
            with httpx.Client(timeout=5) as http, psycopg.connect(pg.admin_dsn(database), autocommit=True) as stats:
                replica.start()
                centre._until_connected([replica], http, centre.START_LIMIT_S)
                replica.stop()
                events = map(centre.grid_event, range(count))
                centre.publish_all(
                    broker.port, [(event_topic(e.grid.codes(), e.source.gateway_id), e.to_json()) for e in events]
                )
                counters = "SELECT xact_commit, tup_inserted FROM pg_stat_database WHERE datname = current_database()"
                commits0, inserted0 = stats.execute(counters).fetchone() or (0, 0)  # before the replica is back
                replica.start()
                assert replica.process is not None
                centre._until_connected([replica], http, centre.START_LIMIT_S)
                processes = {
                    "the replica": [psutil.Process(replica.process.pid)],
                    "PostgreSQL (all its processes)": _postgres(),
                    "mosquitto": [psutil.Process(broker.process.pid)],
                }
                before = {k: _cpu(p) for k, p in processes.items()}
                with recording(replica.process.pid, work / "raw.txt"):
                    started = time.time()
                    store = CaseStore(url)
                    while store.count_cases() < count:
                        time.sleep(centre.POLL_S)
                    seconds = time.time() - started
                    store.close()
                busy = {k: (_cpu(p) - before[k]) / seconds for k, p in processes.items()}
                replica.stop()  # its database sessions end and report their counts (else up to 10 s late)
                time.sleep(1)
                commits1, inserted1 = stats.execute(counters).fetchone() or (0, 0)
        finally:
            replica.stop()
            broker.stop()
        raw = (work / "raw.txt").read_text() if (work / "raw.txt").exists() else ""
    _report(count, seconds, busy, load=load, database=(commits1 - commits0, inserted1 - inserted0), raw=raw)


def _report(
    count: int, seconds: float, busy: dict[str, float], *, load: float, database: tuple[int, int], raw: str
) -> None:
    commits, inserted = database
    print(f"one centre replica draining {count:,} queued events into durable PostgreSQL (fsync on)")
    print(f"stored at {count / seconds:,.0f} events/s (from the replica subscribing to the last case committed)")
    print("cores busy over the drain: " + ", ".join(f"{k} {v:.2f}" for k, v in busy.items()))
    print(f"of {psutil.cpu_count()} cores; load average before: {load:.2f}")
    print(
        f"PostgreSQL counted {commits} commits ({count / max(1, commits):.0f} events each) "
        f"and {inserted:,} rows inserted ({(inserted) / count:.1f} per event)"
    )
    print("the replica's samples by stage (py-spy record -r 200, active threads):")
    for stage, share in stages(raw, STAGES):
        print(f"  {share * 100:5.1f}%  {stage}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
