"""Scenario `replay`: after an outage, how fast the outbox drains to the centre's store.

EVENTS grid-event revisions (realistic payloads, ~700 bytes; two revisions per incident, as a raised
and cleared alarm) wait in the outbox as after an outage; then the uplink starts (in this process,
default window) and the real centre (its own process, SQLite store) ingests them from a real
Mosquitto on loopback.
- `events_per_s`: EVENTS / time from the uplink's start to the centre storing the last revision;
- `broker_acked_per_s`: EVENTS / time until the outbox was empty (the broker acknowledged all).
The centre is proved subscribed first with one warm-up event, so nothing is published before its
persistent session exists.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench import settings
from bench.harness import Measured
from gridedge.cloud_bridge import Outbox, Uplink, event_message
from gridedge.devtools.broker import MosquittoProcess, free_port
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.event import EventStatus, Evidence, EvidenceReading, GridEvent, Severity, Source
from gridedge.edge.grid import GridCell, GridUnit, Location

REVISIONS = 2
"""Per incident: raised, then cleared (many revisions per incident is not what an outage holds)."""
GATEWAY = "gw-bench"


def revision(i: int, incidents: int) -> GridEvent:
    event_id, seq = f"evt-{i % incidents:08d}", i // incidents + 1
    t0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    observed = t0 + timedelta(milliseconds=i)
    return GridEvent(
        event_id=event_id,
        seq=seq,
        status=EventStatus.FIRING if seq == 1 else EventStatus.RESOLVED,
        dedup_key=f"SA-{i % incidents:06d}:smoke",
        category="fire_safety.smoke_alarm",
        severity=Severity.CRITICAL,
        title="Smoke alarm in e-bike shed",
        grid=GridCell(
            district=GridUnit(code="D01", name="西城区"),
            street=GridUnit(code="S01", name="新街口街道"),
            community=GridUnit(code="C01", name="玉桃园社区"),
            grid=GridUnit(code="G01", name="第一网格"),
        ),
        location=Location(site=f"Block {i % incidents}", address="玉桃园三区 3 号楼北侧"),
        source=Source(gateway_id=GATEWAY, device_id=f"SA-{i % incidents:06d}", rule_id="smoke"),
        started_at=t0,
        observed_at=observed,
        ended_at=observed if seq > 1 else None,
        evidence=Evidence(readings=[EvidenceReading(device_id="SA", point="smoke", value=True, ts=observed)]),
    )


def stored(database: Path) -> int:
    if not database.exists():
        return 0
    conn = sqlite3.connect(database)
    try:
        return int(conn.execute("SELECT count(*) FROM event_revisions").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


async def until(condition: object, within: float) -> float:
    """Wait until `condition()` holds; the time.monotonic() when it did."""
    assert callable(condition)
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {within} s")
        await asyncio.sleep(0.01)
    return time.monotonic()


async def measure(work: Path, broker: MosquittoProcess, database: Path, events: int) -> tuple[float, float]:
    with Outbox(work / "outbox.db") as outbox:
        link = BrokerConfig(host="127.0.0.1", port=broker.port)
        stop = asyncio.Event()
        warm = asyncio.create_task(Uplink(outbox, link, GATEWAY).run(stop))
        while stored(database) == 0:  # until the centre has subscribed
            if outbox.depth() == 0:
                outbox.put(event_message(revision(0, 1).model_copy(update={"event_id": "evt-warm-up"})))
            await asyncio.sleep(0.2)
        stop.set()
        await warm
        for start in range(0, events, 2000):  # the outage: events pile up in the outbox
            batch = range(start, min(events, start + 2000))
            outbox.put_many([event_message(revision(i, events // REVISIONS)) for i in batch])
        stop = asyncio.Event()
        started = time.monotonic()
        task = asyncio.create_task(Uplink(outbox, link, GATEWAY).run(stop))
        acked = await until(lambda: outbox.depth() == 0, 600)
        done = await until(lambda: stored(database) >= events + 1, 600)
        stop.set()
        await task
    return events / (done - started), events / (acked - started)


def run(quick: bool) -> Measured:
    events = 10_000 if quick else 50_000
    with tempfile.TemporaryDirectory(prefix="gridedge-replay-") as tmp:
        work = Path(tmp)
        broker = MosquittoProcess(free_port(), work, persistence=True)
        broker.start()
        database = work / "centre.db"
        centre_yaml = work / "centre.yaml"
        centre_yaml.write_text(
            yaml.safe_dump({"broker": broker.url, "database": f"sqlite:///{database}", "http": {"port": free_port()}})
        )
        centre = subprocess.Popen(
            [sys.executable, "-m", "gridedge", "center", "--config", str(centre_yaml), "--log-level", "warning"]
        )
        try:
            to_centre, to_broker = asyncio.run(measure(work, broker, database, events))
        finally:
            centre.terminate()
            centre.wait(timeout=30)
            broker.stop()
    return Measured(
        figures={"events_per_s": to_centre, "broker_acked_per_s": to_broker},
        bounds=f"{events:,} revisions of {events // REVISIONS:,} incidents in the outbox; 600 s at most per phase",
        notes={"centre_store": "SQLite", "window": "uplink default (200)"},
        settings={
            "broker": settings.broker(),
            "qos": "uplink QoS 1",
            "outbox": settings.OUTBOX,
            "centre_store": settings.CENTRE_SQLITE,
        },
    )
