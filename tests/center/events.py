"""Valid grid events for centre tests, varied through keyword arguments."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from gridedge.edge.event import EventStatus, Evidence, EvidenceReading, GridEvent, Severity, Snapshot, Source
from gridedge.edge.grid import GridCell, GridUnit, Location
from gridedge.edge.topics import event_topic

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
CODES = ("D01", "S01", "C01", "G01")


def make_event(
    event_id: str = "evt-0000001",
    seq: int = 1,
    *,
    status: EventStatus = EventStatus.FIRING,
    codes: tuple[str, str, str, str] = CODES,
    gateway_id: str = "gw-01",
    device_id: str = "smoke-3f",
    category: str = "fire_safety.smoke_alarm",
    severity: Severity = Severity.CRITICAL,
    title: str = "Smoke alarm in e-bike shed",
    site: str = "No. 3 e-bike shed",
    snapshot: bytes | None = None,
) -> GridEvent:
    district, street, community, grid = codes
    observed = T0 + timedelta(seconds=seq)
    return GridEvent(
        event_id=event_id,
        seq=seq,
        status=status,
        dedup_key=f"{device_id}:{category}",
        category=category,
        severity=severity,
        title=title,
        grid=GridCell(
            district=GridUnit(code=district, name="西城区"),
            street=GridUnit(code=street, name="新街口街道"),
            community=GridUnit(code=community, name="玉桃园社区"),
            grid=GridUnit(code=grid, name="第一网格"),
        ),
        location=Location(site=site, address="玉桃园三区 3 号楼北侧"),
        source=Source(gateway_id=gateway_id, device_id=device_id, rule_id="smoke"),
        started_at=T0,
        observed_at=observed,
        ended_at=observed if status is EventStatus.RESOLVED else None,
        evidence=Evidence(
            readings=[EvidenceReading(device_id=device_id, point="smoke", value=True, ts=observed)],
            snapshot=Snapshot(sha256=hashlib.sha256(snapshot).hexdigest(), size=len(snapshot)) if snapshot else None,
        ),
    )


def topic_of(event: GridEvent) -> str:
    return event_topic(event.grid.codes(), event.source.gateway_id)
