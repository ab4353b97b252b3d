"""Rules compiled once at load: conditions parsed and checked, templates and schedules built, references
between rules resolved. A bad rule fails here, named, never on the first matching reading."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from string import Template

from gridedge.edge.reading import Reading
from gridedge.rules.condition import Condition, compile_condition
from gridedge.rules.model import Match, Rule, RuleError, RulePack
from gridedge.rules.schedule import CompiledSchedule

Narrowing = Callable[[Reading, Mapping[str, str]], bool]  # (reading, the device's labels)


@dataclass(slots=True)
class CompiledRule:
    rule: Rule
    condition: Condition | None
    clear: Condition | None
    title: Template
    description: Template
    schedule: CompiledSchedule | None
    wanted: frozenset[str]  # window aggregates the condition or clear reads
    narrowed: Narrowing | None  # filter beyond the role or point index
    # Decided by the reading's value alone (no window, counter or schedule): a repeated value decides
    # exactly as the last one did, so the engine skips it. Most readings are heartbeats repeating.
    steady: bool = False


def _narrowing(m: Match | None) -> Narrowing | None:
    """The match's fields the index does not decide: device, the labels (site, profile, grid), and the
    point when a role is given too. A device that is not registered has no labels: site is its id."""
    if m is None:
        return None
    device = m.device
    point = m.point if m.role is not None else None
    labels = {k: v for k, v in (("site", m.site), ("profile", m.profile), ("grid", m.grid)) if v is not None}
    if device is None and point is None and not labels:
        return None
    return lambda r, known: (
        (device is None or r.device_id == device)
        and (point is None or r.point == point)
        and all(known.get(k, r.device_id if k == "site" else None) == v for k, v in labels.items())
    )


def compile_rule(rule: Rule) -> CompiledRule:
    windowed = rule.window_s is not None
    condition = compile_condition(rule.condition, rule.id, "condition", windowed) if rule.condition else None
    clear = compile_condition(rule.clear, rule.id, "clear", windowed) if rule.clear else None
    names = (condition.names if condition else frozenset()) | (clear.names if clear else frozenset())
    return CompiledRule(
        rule=rule,
        condition=condition,
        clear=clear,
        title=Template(rule.title),
        description=Template(rule.description),
        schedule=CompiledSchedule(rule.schedule) if rule.schedule else None,
        wanted=names - {"value", "point", "role", "unit", "device", "site"},
        narrowed=_narrowing(rule.match),
        steady=rule.window_s is None and rule.occurrences is None and rule.schedule is None,
    )


def compile_pack(pack: RulePack) -> list[CompiledRule]:
    """Compile every enabled rule; a bad expression or a reference to an unknown rule fails here, named."""
    rules = [compile_rule(r) for r in pack.rules if r.enabled]
    ids = {cr.rule.id for cr in rules}
    for cr in rules:
        for field_name, refs in (("all_of", cr.rule.all_of), ("inhibits", cr.rule.inhibits)):
            unknown = [r for r in refs if r not in ids]
            if unknown:
                raise RuleError(cr.rule.id, field_name, f"unknown or disabled rules {unknown}")
    return rules
