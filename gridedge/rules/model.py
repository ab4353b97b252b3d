"""Rules as data: what to watch, when it is a hazard, and what grid event it becomes."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from gridedge.edge.categories import CategoryCode
from gridedge.edge.config import StrictModel, load_yaml
from gridedge.edge.event import Severity
from gridedge.edge.grid import Level

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class Match(StrictModel):
    """Which readings a rule looks at; every given field must match."""

    role: str | None = Field(default=None, description="Semantic role from the profile, e.g. smoke.")
    point: str | None = Field(default=None, description="Point name from the profile.")
    device: str | None = Field(default=None, description="One device id.")

    @model_validator(mode="after")
    def _something(self) -> Match:
        if self.role is None and self.point is None:
            raise ValueError("match needs a role or a point")
        return self


class RuleKind(StrEnum):
    CONDITION = "condition"  # fires while a condition over a reading holds
    ABSENCE = "absence"  # fires when a device is silent longer than its profile's offline_after_s


class Rule(StrictModel):
    id: RuleId
    kind: RuleKind = RuleKind.CONDITION
    match: Match | None = Field(default=None, description="Readings the condition looks at.")
    condition: str | None = Field(
        default=None,
        description="Expression over `value`, `point`, `role`, `unit`, `device`; true means hazard.",
    )
    clear: str | None = Field(
        default=None,
        description="Expression that ends the incident; default: the condition no longer holds.",
    )
    for_s: float = Field(default=0.0, ge=0, description="The condition must hold this long before firing.")
    severity: Severity
    category: CategoryCode
    title: str = Field(description="Title template: $device, $site, $address, $value, $unit, $point.")
    description: str = ""
    level: Level = Field(default=Level.GRID, description="Suggested handling level.")
    enabled: bool = True

    @model_validator(mode="after")
    def _kind_fields(self) -> Rule:
        if self.kind is RuleKind.CONDITION and (self.match is None or self.condition is None):
            raise ValueError("a condition rule needs `match` and `condition`")
        if self.kind is RuleKind.ABSENCE and (self.condition or self.clear or self.match):
            raise ValueError("an absence rule takes no match, condition or clear")
        return self


class RulePack(StrictModel):
    rules: list[Rule]
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
