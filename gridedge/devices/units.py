"""Unit conversions where a device reports in another unit than the rules expect (degF for degC, mA
for A). All are affine, so they fold into a point's scale and offset at load and cost nothing when
decoding. A table of a dozen factors rather than a units library: pint's registry takes a second to
import and could only ever give us these same numbers."""

from __future__ import annotations

# (from, to) -> (factor, offset): to = from * factor + offset
CONVERSIONS: dict[tuple[str, str], tuple[float, float]] = {
    ("degF", "degC"): (5 / 9, -32 * 5 / 9),
    ("K", "degC"): (1.0, -273.15),
    ("mA", "A"): (0.001, 0.0),
    ("mV", "V"): (0.001, 0.0),
    ("kV", "V"): (1000.0, 0.0),
    ("kW", "W"): (1000.0, 0.0),
    ("mW", "W"): (0.001, 0.0),
    ("Wh", "kWh"): (0.001, 0.0),
    ("MWh", "kWh"): (1000.0, 0.0),
    ("min", "s"): (60.0, 0.0),
    ("ms", "s"): (0.001, 0.0),
    ("h", "s"): (3600.0, 0.0),
}


def conversion(unit: str, to: str) -> tuple[float, float] | None:
    """(factor, offset) from `unit` to `to`; (1, 0) when they are the same; None when unknown."""
    if unit == to:
        return 1.0, 0.0
    return CONVERSIONS.get((unit, to))


def convertible_from(to: str) -> list[str]:
    return sorted(u for u, t in CONVERSIONS if t == to)
