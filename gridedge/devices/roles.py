"""Semantic roles: what a point means to the rules, and the device family that gives it that meaning.

A role like `smoke` or `device_fault` means the same on any device. A role like `temperature` does
not: a charging port at 70 degC is a hazard, a thermometer in a warm shop is not. Such roles belong to
a family, and a profile declares its family: the readings of a `charging_pile` profile carry
`charging_pile.temperature`, which the charging rules match; an ambient thermometer's `temperature`
never reaches them. The role's unit is the one the rules compare in: a device that reports another
is converted at load (units.py). docs/integrators.md prints this table; a test keeps the two equal and
checks that every role the built-in rules match is in it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from gridedge.devices.units import conversion, convertible_from

if TYPE_CHECKING:
    from gridedge.edge.config import Loc


class Family(StrEnum):
    SMOKE_ALARM = "smoke_alarm"
    CHARGING_PILE = "charging_pile"
    SHOPFRONT = "shopfront"
    METER = "meter"
    ENVIRONMENT = "environment"


@dataclass(frozen=True, slots=True)
class Role:
    type: str  # the point type rules compare it as: bool, int, float, string
    unit: str | None
    meaning: str


# Roles any device may carry: they mean the same whatever the device.
GENERIC: dict[str, Role] = {
    "smoke": Role("bool", None, "smoke detected (alarm)"),
    "tamper": Role("bool", None, "removed from its base or opened"),
    "low_battery": Role("bool", None, "battery low"),
    "battery": Role("float", "%", "battery level"),
    "self_test": Role("bool", None, "a self-test is running (the test button)"),
    "self_test_failed": Role("bool", None, "the last self-test failed"),
    "device_fault": Role("bool", None, "the device reports a fault or malfunction"),
    "heartbeat": Role("string", None, "message kind of a periodic report"),
    "signal": Role("int", "dBm", "radio signal strength"),
    "presence": Role("bool", None, "someone or something in the watched zone"),
    "dwell": Role("float", "s", "how long the zone has been occupied without a break"),
    "beam_breaks": Role("int", None, "beam-break counter"),
}

FAMILY_ROLES: dict[Family, dict[str, Role]] = {
    Family.SMOKE_ALARM: {},
    Family.CHARGING_PILE: {
        "voltage": Role("float", "V", "port voltage"),
        "current": Role("float", "A", "port current"),
        "power": Role("float", "W", "port power"),
        "energy": Role("float", "kWh", "port energy this session or total"),
        "temperature": Role("float", "degC", "port or socket temperature"),
        "relay": Role("bool", None, "port relay closed"),
        "charging": Role("bool", None, "port charging"),
        "port_state": Role("string", None, "port state name; `fault` is a port fault (map a fault bit to it)"),
        "total_power": Role("float", "W", "whole pile power"),
        "arc_fault": Role("bool", None, "arc fault detected"),
        "door": Role("bool", None, "cabinet door open"),
    },
    Family.SHOPFRONT: {},
    Family.METER: {
        "voltage": Role("float", "V", "phase voltage"),
        "current": Role("float", "A", "phase current"),
        "power": Role("float", "W", "active power"),
        "energy": Role("float", "kWh", "active energy"),
    },
    Family.ENVIRONMENT: {
        "temperature": Role("float", "degC", "ambient temperature"),
        "humidity": Role("float", "%", "relative humidity"),
    },
}

QUALIFIED: dict[str, Role] = {f"{f.value}.{name}": r for f, roles in FAMILY_ROLES.items() for name, r in roles.items()}
KNOWN_ROLES: dict[str, Role] = {**GENERIC, **QUALIFIED}


def qualified(role: str, family: Family | None) -> str:
    """The role a reading carries: scoped to the family where the family defines it."""
    if family is not None and role in FAMILY_ROLES[family]:
        return f"{family.value}.{role}"
    return role


def role_problems(role: str, family: Family | None, point_type: str, unit: str | None) -> list[tuple[Loc, str]]:
    """What contradicts the role table: a qualified role that does not exist, the wrong type, a unit
    that cannot be converted to the role's."""
    name = qualified(role, family)
    spec = KNOWN_ROLES.get(name)
    if spec is None:
        if "." in role:
            close = difflib.get_close_matches(role, KNOWN_ROLES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return [(("role",), f"unknown role {role!r}{hint}")]
        # A role no rule knows, or a family role on a device of no family (a thermometer's
        # `temperature`): fine; its readings reach the API, telemetry and evidence, not those rules.
        return []
    problems: list[tuple[Loc, str]] = []
    if spec.type != point_type and not (spec.type == "float" and point_type == "int"):
        problems.append((("type",), f"role {name!r} is a {spec.type} (rules compare it so); got {point_type}"))
    if spec.unit is not None and unit is not None and conversion(unit, spec.unit) is None:
        known = ", ".join([spec.unit, *convertible_from(spec.unit)])
        problems.append((("unit",), f"role {name!r} is in {spec.unit}; cannot convert {unit!r} (known: {known})"))
    return problems


def rules_unit(role: str, family: Family | None, unit: str | None) -> tuple[str | None, tuple[float, float]]:
    """The unit readings carry, and (factor, offset) from the device's unit to it."""
    spec = KNOWN_ROLES.get(qualified(role, family))
    if spec is None or spec.unit is None or unit is None:
        return unit, (1.0, 0.0)
    return spec.unit, conversion(unit, spec.unit) or (1.0, 0.0)
