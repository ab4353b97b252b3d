"""Rules as data: what to watch, when it is a hazard, and what grid event it becomes."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import AwareDatetime, Field, field_validator, model_validator

from gridedge.edge.categories import CATEGORIES, CategoryCode
from gridedge.edge.config import StrictModel, load_yaml
from gridedge.edge.errors import ConfigError
from gridedge.edge.event import Severity
from gridedge.edge.grid import Level

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
HoursRange = Annotated[str, Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")]


class RuleError(ConfigError, ValueError):
    """A rule that is valid YAML but cannot work (unknown reference, bad expression): named by rule and field.
    A ConfigError, so whatever refuses a bad config file refuses a bad rule the same way."""

    def __init__(self, rule_id: str, field: str, message: str) -> None:
        self.rule_id, self.field = rule_id, field
        self.message = f"rule {rule_id!r}, {field}: {message}"
        super().__init__("rules", [self.message])

    def __str__(self) -> str:
        return self.message


class Match(StrictModel):
    """Which readings a rule looks at; every given field must match."""

    role: str | None = Field(default=None, description="Semantic role from the profile, e.g. smoke, temperature.")
    point: str | None = Field(default=None, description="Point name from the profile, e.g. port3.temperature.")
    device: str | None = Field(default=None, description="One device id.")
    site: str | None = Field(default=None, description="Only devices at this site (the inventory's location.site).")
    profile: str | None = Field(default=None, description="Only devices of this profile id.")
    grid: str | None = Field(default=None, description="Only devices in this grid cell (its grid-level code).")

    @model_validator(mode="after")
    def _something(self) -> Match:
        if self.role is None and self.point is None:
            raise ValueError("match needs a role or a point")
        return self


class RuleKind(StrEnum):
    CONDITION = "condition"  # fires while a condition over a point's readings holds
    ABSENCE = "absence"  # fires when a device (or one of its points) is silent too long
    CORRELATION = "correlation"  # fires while every rule in `all_of` holds at one site


class GroupBy(StrEnum):
    """What one incident stands for: the dedup key's granularity."""

    POINT = "point"  # port 3 and port 5 overheating are two incidents
    DEVICE = "device"  # one incident per device, whichever of its points holds
    SITE = "site"  # one incident per site: e.g. every low battery in one building


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class Schedule(StrictModel):
    """When a rule applies; outside it the condition counts as not holding."""

    timezone: str = Field(default="Asia/Shanghai", description="IANA time zone of the hours and days.")
    days: list[Weekday] = Field(default_factory=lambda: list(Weekday), description="Days the rule applies.")
    hours: list[HoursRange] = Field(
        default_factory=list, description="Local time ranges like 08:30-18:00; empty: the whole day."
    )
    holidays: str | None = Field(
        default=None, description="Not on this country's public holidays (ISO code, e.g. CN; python `holidays`)."
    )
    extra_holidays: list[date] = Field(default_factory=list, description="Further days off, e.g. a local festival.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("holidays")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        if v is not None and v not in holidays.list_supported_countries():
            raise ValueError(f"no holiday calendar for country {v!r}")
        return v

    @field_validator("hours")
    @classmethod
    def _ordered(cls, v: list[str]) -> list[str]:
        for r in v:
            start, end = r.split("-")
            if start >= end:
                raise ValueError(f"hours {r!r}: start is not before end")
        return v


class Escalation(StrictModel):
    """An incident still open after `after_s` gets one `update` revision with a higher severity or level."""

    after_s: float = Field(gt=0, description="Seconds after firing.")
    severity: Severity | None = None
    level: Level | None = None


class Silence(StrictModel):
    """Mute matching incidents until `ends_at` (maintenance on a device, a known works site)."""

    rule: str | None = Field(default=None, description="Rule id.")
    device: str | None = Field(default=None, description="Device id.")
    site: str | None = Field(default=None, description="Site label.")
    ends_at: AwareDatetime = Field(description="When the silence ends (RFC 3339 with time zone).")
    reason: str = Field(default="", max_length=500, description="Why (an operator's silence needs one).")
    author: str = Field(default="", max_length=100, description="Who set it (an operator's silence needs one).")

    @model_validator(mode="after")
    def _something(self) -> Silence:
        if self.rule is None and self.device is None and self.site is None:
            raise ValueError("a silence needs a rule, device or site")
        return self


class Rule(StrictModel):
    id: RuleId
    kind: RuleKind = RuleKind.CONDITION
    match: Match | None = Field(default=None, description="Readings the condition looks at (absence: that count).")
    condition: str | None = Field(
        default=None,
        description="Expression over value, point, role, unit, device, site, and with `window_s` avg, min, max, "
        "count, delta, rate; true means hazard.",
    )
    clear: str | None = Field(
        default=None, description="Expression that ends the incident (hysteresis); default: the condition fails."
    )
    window_s: float | None = Field(default=None, gt=0, description="Sliding window of the aggregates, seconds.")
    occurrences: int | None = Field(
        default=None, ge=1, description="Fire when the condition became true this many times within `window_s`."
    )
    for_s: float = Field(default=0.0, ge=0, description="The condition must hold this long before firing.")
    keep_firing_s: float = Field(default=0.0, ge=0, description="Stay firing this long after it clears (flapping).")
    after_s: float | None = Field(default=None, gt=0, description="Absence: silence that fires; default: profile's.")
    all_of: list[RuleId] = Field(default_factory=list, description="Correlation: rules that must hold at one site.")
    schedule: Schedule | None = Field(default=None, description="Only during these hours and days.")
    group_by: GroupBy | None = Field(
        default=None, description="Incident granularity; default point (site for correlation, device for absence)."
    )
    inhibits: list[RuleId] = Field(
        default_factory=list, description="While this fires, these rules' incidents at the same site are suppressed."
    )
    escalate: Escalation | None = None
    max_open: int = Field(default=100, ge=1, description="Flood cap: open published incidents of this rule.")
    publish: bool = Field(default=True, description="False: the rule only feeds correlations, never an event.")
    severity: Severity
    category: CategoryCode
    title: str = Field(description="Title template: $device, $site, $address, $value, $unit, $point.")
    description: str = ""
    level: Level = Field(default=Level.GRID, description="Suggested handling level.")
    enabled: bool = True

    @field_validator("category")
    @classmethod
    def _known_category(cls, v: str) -> str:
        if v not in CATEGORIES:
            raise ValueError(f"unknown category {v!r}; known: {', '.join(sorted(CATEGORIES))}")
        return v

    @model_validator(mode="after")
    def _kind_fields(self) -> Rule:
        by_reading = (self.condition, self.clear, self.window_s, self.occurrences)
        if self.kind is RuleKind.CONDITION:
            if self.match is None or self.condition is None:
                raise ValueError("a condition rule needs `match` and `condition`")
            if self.all_of or self.after_s is not None:
                raise ValueError("`all_of` and `after_s` belong to correlation and absence rules")
        elif self.kind is RuleKind.ABSENCE:
            if any(v is not None for v in by_reading) or self.all_of or self.schedule:
                raise ValueError("an absence rule takes no condition, clear, window, occurrences, all_of or schedule")
        else:
            if len(self.all_of) < 2 or self.match is not None or any(v is not None for v in by_reading):
                raise ValueError("a correlation rule needs two or more `all_of` rules and no match or condition")
            if self.group_by not in (None, GroupBy.SITE):
                raise ValueError("a correlation is always grouped by site")
        if self.occurrences is not None and self.window_s is None:
            raise ValueError("`occurrences` needs `window_s`")
        if not self.publish and self.kind is not RuleKind.CONDITION:
            raise ValueError("only condition rules may be `publish: false`")
        if re.search(r"\$(?!\{?(device|site|address|value|unit|point)\b)", self.title):
            raise ValueError("title names an unknown $word; known: device, site, address, value, unit, point")
        return self

    @property
    def grouping(self) -> GroupBy:
        if self.group_by is not None:
            return self.group_by
        return {RuleKind.CORRELATION: GroupBy.SITE, RuleKind.ABSENCE: GroupBy.DEVICE}.get(self.kind, GroupBy.POINT)


class RulePack(StrictModel):
    rules: list[Rule]
    silences: list[Silence] = Field(default_factory=list, description="Silences that come with the pack.")
    kind: Literal["gridedge.rules/1"] = Field(default="gridedge.rules/1", alias="schema")

    @model_validator(mode="after")
    def _unique(self) -> RulePack:
        ids = [r.id for r in self.rules]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"rule ids appear twice: {sorted(dupes)}")
        return self


BUILTIN_PACKS = Path(__file__).parent / "packs"


def load_rule_pack(path: Path) -> RulePack:
    return load_yaml(path, RulePack)


def merge_packs(packs: list[RulePack]) -> RulePack:
    """One pack from several files; a rule id in two files is an error naming it."""
    rules = [r for p in packs for r in p.rules]
    ids = [r.id for r in rules]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise RuleError(twice[0], "id", "defined in more than one pack")
    return RulePack(rules=rules, silences=[s for p in packs for s in p.silences])
