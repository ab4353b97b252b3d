"""The engine's decisions as plain data, so they outlive the process.

The engine hands out, after each step, the records it changed (`RuleEngine.changes()`): a flat
mapping of state key to a JSON-able record, or None where the thing ended. Whoever stores events
stores these in the same transaction (the outbox's state table), so a restart finds exactly the
decisions whose events were committed; `RuleEngine.restore()` takes the whole mapping back.

Keys: `i/<dedup key>` an open incident, `t/<rule>|<device>|<point>` a track that holds, waits
(`for_s`), counts occurrences or belongs to an incident, `s/<id>` an operator's silence, `d/<device>`
when a device was last heard from. Records carry the rule's fingerprint, so a rule that changed
between runs is recognised (docs/rules.md, "Restarts").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from gridedge.edge.alert import Alert
from gridedge.edge.event import EventStatus, Severity
from gridedge.edge.grid import Level
from gridedge.edge.reading import Quality, Reading
from gridedge.rules.compiled import CompiledRule
from gridedge.rules.hygiene import Held
from gridedge.rules.model import Rule
from gridedge.rules.state import Incident, Track
from gridedge.rules.windows import Occurrences, Window

INCIDENT, TRACK, SILENCE, DEVICE = "i/", "t/", "s/", "d/"
SEP = "|"

Record = dict[str, Any]
Changes = dict[str, Record | None]
"""State key -> its record now, or None: forget it."""


def fingerprint(rule: Rule) -> str:
    """Equal for equal rule definitions, whatever file or order they came in."""
    return hashlib.sha256(rule.model_dump_json().encode()).hexdigest()[:16]


def track_key(key: tuple[str, str, str]) -> str:
    return TRACK + SEP.join(key)


def parse_track_key(state_key: str) -> tuple[str, str, str] | None:
    parts = state_key.removeprefix(TRACK).split(SEP)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def reading_record(r: Reading) -> list[Any]:
    return [r.device_id, r.point, r.value, r.ts, r.unit, r.role, r.quality.value]


def reading_from(rec: list[Any]) -> Reading:
    device, point, value, ts, unit, role, quality = rec
    return Reading(device, point, value, float(ts), unit, role, Quality(quality))


def readings_from(recs: Iterable[list[Any]]) -> list[Reading]:
    return [reading_from(r) for r in recs]


def alert_record(a: Alert) -> Record:
    """The last published revision, without its evidence (the incident keeps that)."""
    return {
        "event_id": a.event_id,
        "seq": a.seq,
        "status": a.status.value,
        "rule_id": a.rule_id,
        "dedup_key": a.dedup_key,
        "device_id": a.device_id,
        "category": a.category,
        "severity": a.severity.value,
        "title": a.title,
        "started_at": a.started_at,
        "observed_at": a.observed_at,
        "level": a.level.value,
        "description": a.description,
        "ended_at": a.ended_at,
    }


def alert_from(rec: Record, readings: Iterable[Reading]) -> Alert:
    return Alert(
        event_id=rec["event_id"],
        seq=int(rec["seq"]),
        status=EventStatus(rec["status"]),
        rule_id=rec["rule_id"],
        dedup_key=rec["dedup_key"],
        device_id=rec["device_id"],
        category=rec["category"],
        severity=Severity(rec["severity"]),
        title=rec["title"],
        started_at=float(rec["started_at"]),
        observed_at=float(rec["observed_at"]),
        level=Level(rec["level"]),
        description=rec.get("description", ""),
        ended_at=rec.get("ended_at"),
        readings=tuple(readings),
    )


def member_record(member: object) -> object:
    """A track key (rule, device, point) becomes a list; a site or device id stays a string."""
    return list(member) if isinstance(member, tuple) else member


def member_from(rec: object) -> object:
    return tuple(rec) if isinstance(rec, list) else rec


def incident_record(i: Incident, fp: str) -> Record:
    return {
        "rule": i.cr.rule.id,
        "fp": fp,
        "site": i.site,
        "device_id": i.device_id,
        "first": reading_record(i.first),
        "started_at": i.started_at,
        "opened_at": i.opened_at,
        "severity": i.severity.value,
        "level": i.level.value,
        "members": [member_record(m) for m in i.members],
        "devices": sorted(i.devices),
        "evidence": [reading_record(r) for r in i.evidence],
        "alert": alert_record(i.alert) if i.alert is not None else None,
        "held": i.held.value if i.held is not None else None,
        "clear_since": i.clear_since,
        "escalated": i.escalated,
    }


def incident_from(key: str, rec: Record, cr: CompiledRule) -> Incident:
    evidence = readings_from(rec["evidence"])
    incident = Incident(
        key=key,
        cr=cr,
        site=rec["site"],
        device_id=rec["device_id"],
        first=reading_from(rec["first"]),
        started_at=float(rec["started_at"]),
        opened_at=float(rec["opened_at"]),
        severity=Severity(rec["severity"]),
        level=Level(rec["level"]),
        members={member_from(m) for m in rec["members"]},
        devices=set(rec["devices"]),
        held=Held(rec["held"]) if rec.get("held") else None,
        clear_since=rec.get("clear_since"),
        escalated=bool(rec.get("escalated")),
    )
    incident.evidence.extend(evidence)
    if rec.get("alert") is not None:
        incident.alert = alert_from(rec["alert"], incident.evidence)
    return incident


def keeps_state(t: Track) -> bool:
    """A track worth remembering: it holds, waits, counts or belongs to an incident. Any other track is
    rebuilt from the next reading (its window refills; docs/rules.md says what that costs)."""
    return t.holds or t.member or t.pending_since is not None or bool(t.occurrences and t.occurrences.at)


def track_record(t: Track, fp: str) -> Record | None:
    if not keeps_state(t):
        return None
    under_way = t.member or t.pending_since is not None
    return {
        "fp": fp,
        "site": t.site,
        "incident": t.incident_key,
        "last": reading_record(t.last) if t.last is not None else None,
        "raw": t.raw,
        "holds": t.holds,
        "pending_since": t.pending_since,
        "member": t.member,
        "occurrences": list(t.occurrences.at) if t.occurrences is not None else None,
        # The window only where a decision rests on it (a timer, an incident): it is the bulky part.
        "window": [[ts, v] for ts, v in t.window.samples] if t.window is not None and under_way else None,
    }


def track_from(rec: Record, cr: CompiledRule, window: Window | None, occurrences: Occurrences | None) -> Track:
    """A track as it was; the caller decides whether its rule's fingerprint still matches."""
    if window is not None and rec.get("window"):
        for ts, v in rec["window"]:
            window.push(float(ts), float(v))
    if occurrences is not None and rec.get("occurrences"):
        occurrences.at.extend(float(ts) for ts in rec["occurrences"])
    return Track(
        cr,
        rec["site"],
        rec["incident"],
        window,
        occurrences,
        last=reading_from(rec["last"]) if rec.get("last") is not None else None,
        raw=bool(rec["raw"]),
        holds=bool(rec["holds"]),
        pending_since=rec.get("pending_since"),
        member=bool(rec["member"]),
    )
