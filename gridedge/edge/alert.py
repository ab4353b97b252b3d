"""An Alert is the rules engine's view of an incident; each lifecycle step becomes one grid-event revision."""

from __future__ import annotations

from dataclasses import dataclass, field

from gridedge.edge.categories import national_code
from gridedge.edge.clock import to_datetime
from gridedge.edge.event import (
    MAX_EVIDENCE_READINGS,
    EventStatus,
    Evidence,
    EvidenceReading,
    GridEvent,
    Severity,
    Source,
)
from gridedge.edge.grid import GridCell, Level, Location
from gridedge.edge.reading import Reading


@dataclass(frozen=True, slots=True)
class Alert:
    """One revision of an incident as the rules engine sees it (no place, no gateway: those are added
    from the inventory when the event is built)."""

    event_id: str
    seq: int
    status: EventStatus
    rule_id: str
    dedup_key: str
    device_id: str
    category: str
    severity: Severity
    title: str
    started_at: float
    observed_at: float
    level: Level = Level.GRID
    description: str = ""
    ended_at: float | None = None
    readings: tuple[Reading, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Origin:
    """Who raised an alert and where: the gateway and the inventory entry of the device."""

    gateway_id: str
    grid: GridCell
    location: Location
    profile: str | None = None


def to_grid_event(alert: Alert, origin: Origin) -> GridEvent:
    """Pure mapping of an alert revision to the published contract."""
    readings = [
        EvidenceReading(
            device_id=r.device_id,
            point=r.point,
            value=r.value,
            unit=r.unit,
            ts=to_datetime(r.ts),
            quality=r.quality.value,
        )
        for r in alert.readings[-MAX_EVIDENCE_READINGS:]
    ]
    return GridEvent(
        event_id=alert.event_id,
        seq=alert.seq,
        status=alert.status,
        dedup_key=alert.dedup_key,
        category=alert.category,
        national_code=national_code(alert.category),
        severity=alert.severity,
        title=alert.title,
        description=alert.description,
        grid=origin.grid,
        location=origin.location,
        source=Source(
            gateway_id=origin.gateway_id,
            device_id=alert.device_id,
            profile=origin.profile,
            rule_id=alert.rule_id,
        ),
        started_at=to_datetime(alert.started_at),
        observed_at=to_datetime(alert.observed_at),
        ended_at=to_datetime(alert.ended_at) if alert.ended_at is not None else None,
        evidence=Evidence(readings=readings),
        suggested_level=alert.level,
    )
