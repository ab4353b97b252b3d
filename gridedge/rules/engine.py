"""The rules engine: readings in, alert revisions out.

Pure state machine over (readings, clock): no I/O, so every transition is tested on a fake clock.
Per (rule, device) an incident is idle, pending (condition holds, waiting out `for_s`) or firing.
Firing publishes revision 1; clearing publishes the same event_id with the next seq, `resolved`.
A condition that keeps holding adds evidence but no revision: one incident, one case.

Defined behaviour for doubtful input: bad-quality readings count as "heard from" for absence but
never change a condition's state; readings of devices that are not registered are still evaluated.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from string import Template

from gridedge.edge.alert import Alert
from gridedge.edge.clock import Clock
from gridedge.edge.event import EventStatus
from gridedge.edge.reading import Quality, Reading
from gridedge.rules.condition import Condition, Evaluator, compile_condition
from gridedge.rules.model import Rule, RuleKind, RulePack

EVIDENCE_PER_INCIDENT = 10


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    condition: Condition | None
    clear: Condition | None
    title: Template
    description: Template


def compile_rule(rule: Rule) -> CompiledRule:
    return CompiledRule(
        rule=rule,
        condition=compile_condition(rule.condition, rule.id, "condition") if rule.condition else None,
        clear=compile_condition(rule.clear, rule.id, "clear") if rule.clear else None,
        title=Template(rule.title),
        description=Template(rule.description),
    )


@dataclass(slots=True)
class DeviceFacts:
    labels: Mapping[str, str]  # site, address...: what templates may name
    offline_after_s: float | None
    last_seen: float


@dataclass(slots=True)
class _Incident:
    alert: Alert
    evidence: deque[Reading] = field(default_factory=lambda: deque(maxlen=EVIDENCE_PER_INCIDENT))


def new_event_id() -> str:
    return uuid.uuid4().hex


class RuleEngine:
    def __init__(self, pack: RulePack, clock: Clock, event_id: Callable[[], str] = new_event_id) -> None:
        self._clock = clock
        self._event_id = event_id
        self._eval = Evaluator()
        rules = [compile_rule(r) for r in pack.rules if r.enabled]
        self.rules = tuple(rules)
        self._by_role: dict[str, list[CompiledRule]] = {}
        self._by_point: dict[str, list[CompiledRule]] = {}
        for cr in rules:
            m = cr.rule.match
            if m is None:
                continue
            if m.role is not None:
                self._by_role.setdefault(m.role, []).append(cr)
            else:
                assert m.point is not None
                self._by_point.setdefault(m.point, []).append(cr)
        self._absence = [cr for cr in rules if cr.rule.kind is RuleKind.ABSENCE]
        self._devices: dict[str, DeviceFacts] = {}
        self._pending: dict[tuple[str, str], tuple[float, CompiledRule, Reading]] = {}
        self._firing: dict[tuple[str, str], _Incident] = {}

    # -- inventory ---------------------------------------------------------------------------
    def register_device(self, device_id: str, labels: Mapping[str, str], offline_after_s: float | None) -> None:
        """Known devices are watched for absence from now on, even if they never speak."""
        previous = self._devices.get(device_id)
        last_seen = previous.last_seen if previous else self._clock.now()
        self._devices[device_id] = DeviceFacts(labels, offline_after_s, last_seen)

    # -- input -------------------------------------------------------------------------------
    def process(self, readings: Iterable[Reading]) -> list[Alert]:
        out: list[Alert] = []
        now = self._clock.now()
        for reading in readings:
            facts = self._devices.get(reading.device_id)
            if facts is not None:
                facts.last_seen = now
                self._back_online(reading, out)
            if reading.quality is not Quality.GOOD:
                continue
            for cr in self._candidates(reading):
                self._evaluate(cr, reading, now, out)
        return out

    def tick(self) -> list[Alert]:
        """Time-driven transitions: pending conditions that have held long enough, silent devices."""
        now = self._clock.now()
        out: list[Alert] = []
        for key, (since, cr, reading) in list(self._pending.items()):
            if now - since >= cr.rule.for_s:
                del self._pending[key]
                self._open(cr, key, reading, started_at=reading.ts, out=out)
        for device_id, facts in self._devices.items():
            if facts.offline_after_s is None or now - facts.last_seen <= facts.offline_after_s:
                continue
            for cr in self._absence:
                key = (cr.rule.id, device_id)
                if key not in self._firing:
                    marker = Reading(device_id, "last_seen", facts.last_seen, facts.last_seen, "s")
                    self._open(cr, key, marker, started_at=facts.last_seen, out=out)
        return out

    def firing(self) -> list[Alert]:
        return [i.alert for i in self._firing.values()]

    # -- internals ---------------------------------------------------------------------------
    def _candidates(self, reading: Reading) -> Iterable[CompiledRule]:
        found = self._by_role.get(reading.role, []) if reading.role else []
        by_point = self._by_point.get(reading.point)
        if by_point:
            found = found + by_point
        return (cr for cr in found if cr.rule.match is None or cr.rule.match.device in (None, reading.device_id))

    def _evaluate(self, cr: CompiledRule, reading: Reading, now: float, out: list[Alert]) -> None:
        key = (cr.rule.id, reading.device_id)
        names = {
            "value": reading.value,
            "point": reading.point,
            "role": reading.role,
            "unit": reading.unit,
            "device": reading.device_id,
        }
        assert cr.condition is not None
        holds = self._eval.holds(cr.condition, names)
        incident = self._firing.get(key)
        if incident is not None:
            ends = self._eval.holds(cr.clear, names) if cr.clear is not None else not holds
            if ends:
                self._resolve(key, reading.ts, reading, out)
            else:
                incident.evidence.append(reading)
            return
        if not holds:
            self._pending.pop(key, None)
        elif cr.rule.for_s == 0:
            self._open(cr, key, reading, started_at=reading.ts, out=out)
        else:
            self._pending.setdefault(key, (now, cr, reading))

    def _open(
        self, cr: CompiledRule, key: tuple[str, str], reading: Reading, *, started_at: float, out: list[Alert]
    ) -> None:
        rule = cr.rule
        facts = self._devices.get(reading.device_id)
        words = {
            "device": reading.device_id,
            "point": reading.point,
            "value": str(reading.value),
            "unit": reading.unit or "",
            **(facts.labels if facts else {}),
        }
        words.setdefault("site", reading.device_id)
        incident = _Incident(
            Alert(
                event_id=self._event_id(),
                seq=1,
                status=EventStatus.FIRING,
                rule_id=rule.id,
                dedup_key=f"{rule.id}:{reading.device_id}",
                device_id=reading.device_id,
                category=rule.category,
                severity=rule.severity,
                title=cr.title.safe_substitute(words)[:200],
                description=cr.description.safe_substitute(words)[:2000],
                started_at=started_at,
                observed_at=reading.ts,
                level=rule.level,
            )
        )
        incident.evidence.append(reading)
        incident.alert = replace(incident.alert, readings=tuple(incident.evidence))
        self._firing[key] = incident
        out.append(incident.alert)

    def _resolve(self, key: tuple[str, str], ended_at: float, reading: Reading | None, out: list[Alert]) -> None:
        incident = self._firing.pop(key)
        if reading is not None:
            incident.evidence.append(reading)
        a = incident.alert
        out.append(
            replace(
                a,
                seq=a.seq + 1,
                status=EventStatus.RESOLVED,
                observed_at=ended_at,
                ended_at=ended_at,
                readings=tuple(incident.evidence),
            )
        )

    def _back_online(self, reading: Reading, out: list[Alert]) -> None:
        for cr in self._absence:
            key = (cr.rule.id, reading.device_id)
            if key in self._firing:
                self._resolve(key, reading.ts, reading, out)
