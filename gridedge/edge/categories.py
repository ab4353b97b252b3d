"""Unified two-level category codes, and the national numeric codes a city platform may translate to.

The city-management information system standard classifies "components and events"; where the national
code for one of our categories is known it is listed here, so a consumer never has to guess. Codes
without a known national equivalent map to None rather than to an invented number.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

CategoryCode = Annotated[
    str,
    Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", description="Two-level code: major.minor"),
]

CATEGORIES: dict[str, str] = {
    "fire_safety.smoke_alarm": "Smoke alarm",
    "fire_safety.ebike_charging_overheat": "E-bike charging overheat",
    "fire_safety.ebike_charging_fire": "E-bike charging fire",
    "fire_safety.ebike_charging_overcurrent": "E-bike charging over-current",
    "fire_safety.ebike_charging_arc_fault": "E-bike charging arc fault",
    "fire_safety.ebike_charging_overtime": "E-bike charging too long or beyond full",
    "device.port_stuck_on": "Charging port stuck on",
    "fire_safety.ebike_indoor": "E-bike indoors",
    "fire_safety.fire_exit_blocked": "Fire exit blocked",
    "street_order.outside_shop_operation": "Doing business outside the shop",
    "device.offline": "Device offline",
    "device.tamper": "Device tampered",
    "device.low_battery": "Device battery low",
    "device.self_test": "Device self-test",
    "device.fault": "Device fault or failed self-test",
}

# Major classes of the events part of the city-management standard (GB/T 30428.2): 04 emergencies,
# 05 street order. Only the major class is given: minor numbers differ between city editions, so a
# deployment extends this table from its own city's code list instead of us guessing.
# Device faults (device.*) are the gateway's own maintenance matters, not city-management events: the
# standard has no class for them, so they stay unmapped rather than filed under a guessed one.
NATIONAL_CODES: dict[str, str] = {
    "street_order.outside_shop_operation": "05",
    "fire_safety.smoke_alarm": "04",
    "fire_safety.ebike_charging_fire": "04",
}


def national_code(category: str) -> str | None:
    return NATIONAL_CODES.get(category)
