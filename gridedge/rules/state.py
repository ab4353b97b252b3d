"""What the engine remembers: facts about devices, tracks (one rule watching one point) and incidents."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gridedge.edge.alert import Alert
from gridedge.edge.event import EventStatus, Severity
from gridedge.edge.grid import Level
from gridedge.edge.reading import Reading
from gridedge.rules.compiled import CompiledRule
from gridedge.rules.hygiene import Held
from gridedge.rules.windows import Occurrences, Window

EVIDENCE_PER_INCIDENT = 10


@dataclass(slots=True)
class DeviceFacts:
    labels: Mapping[str, str]  # site, address...: what templates may name
    offline_after_s: float | None
    last_seen: float
    roles: frozenset[str] | None  # the profile's roles, when known: absence of a role it lacks is no event
    site: str  # the site label, or the device id where it has none


@dataclass(slots=True)
class Track:
    """One rule watching one point of one device."""

    cr: CompiledRule
    site: str
    incident_key: str
    window: Window | None
    occurrences: Occurrences | None
    last: Reading | None = None
    raw: bool = False  # the condition held on the last reading (edges for occurrences)
    holds: bool = False  # the rule holds here now (counter reached), before for_s
    pending_since: float | None = None
    member: bool = False  # part of its open incident
    overdue: bool = False  # restored pending with `for_s` served while the gateway was down: the next reading decides


@dataclass(slots=True)
class Incident:
    key: str
    cr: CompiledRule
    site: str
    device_id: str
    first: Reading
    started_at: float
    opened_at: float
    severity: Severity
    level: Level
    members: set[Any] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    evidence: deque[Reading] = field(default_factory=lambda: deque(maxlen=EVIDENCE_PER_INCIDENT))
    alert: Alert | None = None  # the last published revision; None: not shown (held, or superseded)
    held: Held | None = None
    clear_since: float | None = None
    escalated: bool = False


def first_revision(
    incident: Incident, labels: Mapping[str, str], event_id: str, status: EventStatus, observed_at: float
) -> Alert:
    """Revision 1 of an incident, its title and description filled from the first reading and the labels."""
    cr, r = incident.cr, incident.first
    value = f"{r.value:g}" if isinstance(r.value, float) else str(r.value)
    words = {"device": r.device_id, "point": r.point, "value": value, "unit": r.unit or "", **labels}
    words.setdefault("site", incident.site)
    words.setdefault("address", "")
    return Alert(
        event_id=event_id,
        seq=1,
        status=status,
        rule_id=cr.rule.id,
        dedup_key=incident.key,
        device_id=incident.device_id,
        category=cr.rule.category,
        severity=incident.severity,
        title=cr.title.safe_substitute(words)[:200],
        description=cr.description.safe_substitute(words)[:2000],
        started_at=incident.started_at,
        observed_at=observed_at,
        level=incident.level,
        readings=tuple(incident.evidence),
    )


def next_revision(
    incident: Incident, previous: Alert, status: EventStatus, observed_at: float, *, ended: bool, note: str
) -> Alert:
    """The next revision: same event_id, seq + 1, the incident's current severity, level and evidence."""
    return replace(
        previous,
        seq=previous.seq + 1,
        status=status,
        severity=incident.severity,
        level=incident.level,
        observed_at=observed_at,
        ended_at=observed_at if ended else None,
        description=f"{previous.description} {note}".strip()[:2000] if note else previous.description,
        readings=tuple(incident.evidence),
    )


def resolved_revision(previous: Alert, at: float, note: str) -> Alert:
    """The closing revision of an incident the engine no longer tracks (its rule is gone)."""
    return replace(
        previous,
        seq=previous.seq + 1,
        status=EventStatus.RESOLVED,
        observed_at=at,
        ended_at=at,
        description=f"{previous.description} {note}".strip()[:2000],
    )
