"""Pure decoding of a device payload into Readings, with the profile compiled once per model.

No I/O here: the decoder is a function of (bytes, compiled profile, device, receive time), tested
table-driven and benchmarked alone. A bad value never raises: it becomes a bad-quality reading and
a named problem, so one broken field does not hide the good ones beside it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from gridedge.devices.profile import MqttTransport, Point, PointType, Profile
from gridedge.edge.reading import Quality, Reading

PathStep = str | int


def compile_path(path: str) -> tuple[PathStep, ...]:
    """`$.ports[2].temp` -> ("ports", 2, "temp")."""
    steps: list[PathStep] = []
    for part in path.removeprefix("$").lstrip(".").split("."):
        name, *indexes = re.split(r"\[(\d+)\]", part)
        steps.append(name)
        steps.extend(int(i) for i in indexes if i)
    return tuple(steps)


_MISSING = object()


def _get(doc: Any, steps: tuple[PathStep, ...]) -> Any:
    for step in steps:
        if isinstance(step, int):
            if not isinstance(doc, list) or step >= len(doc):
                return _MISSING
        elif not isinstance(doc, dict) or step not in doc:
            return _MISSING
        doc = doc[step]
    return doc


@dataclass(frozen=True, slots=True)
class CompiledPoint:
    point: Point
    steps: tuple[PathStep, ...]
    key: str | None = None  # steps[0] when the path is one or two object keys (most payloads)
    subkey: str | None = None  # steps[1] then
    # The common values decoded inline, with no check beyond their JSON type and the range; anything
    # else (scale, enum, a wrong type) goes through `convert`, which says what is wrong.
    exact: type | None = None  # bool or str: a JSON value of exactly this type is the value
    number: bool = False  # an unscaled float point: a JSON int or float in range
    integer: bool = False  # an unscaled int point: a JSON int in range
    low: float = -math.inf
    high: float = math.inf


def compile_point(point: Point) -> CompiledPoint:
    steps = compile_path(point.path or "")
    plain = point.enum is None and point.scale == 1.0 and point.offset == 0.0
    exact = {PointType.BOOL: bool, PointType.STRING: str}.get(point.type) if plain else None
    number = plain and point.type is PointType.FLOAT
    integer = plain and point.type is PointType.INT
    low = point.min if point.min is not None else -math.inf
    high = point.max if point.max is not None else math.inf
    key = subkey = None
    if len(steps) <= 2 and all(isinstance(step, str) for step in steps):
        key, subkey = str(steps[0]), (str(steps[1]) if len(steps) == 2 else None)
    return CompiledPoint(point, steps, key, subkey, exact, number, integer, low, high)


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    """An MQTT JSON profile, ready to decode."""

    profile: Profile
    transport: MqttTransport
    points: tuple[CompiledPoint, ...]
    ts_steps: tuple[PathStep, ...] | None
    ts_path: str
    ts_divisor: float
    max_payload_bytes: int


def compile_profile(profile: Profile) -> CompiledProfile:
    ts = profile.timestamp
    transport = profile.transport
    if not isinstance(transport, MqttTransport):
        raise TypeError(f"profile {profile.id!r} is not an MQTT profile")
    return CompiledProfile(
        profile=profile,
        transport=transport,
        points=tuple(compile_point(p) for p in profile.all_points()),
        ts_steps=compile_path(ts.path) if ts else None,
        ts_path=ts.path if ts else "",
        ts_divisor=1000.0 if ts and ts.unit == "ms" else 1.0,
        max_payload_bytes=transport.max_payload_bytes,
    )


@dataclass(frozen=True, slots=True)
class Decoded:
    readings: list[Reading]
    problems: list[str]  # each names the field; empty when everything decoded


def convert(raw: Any, point: Point) -> tuple[Any, str | None]:
    """The typed, scaled value, or (None, why) when the raw value does not fit the point."""
    kind = point.type
    if point.enum is not None:
        name = point.enum.get(raw) if isinstance(raw, int) and not isinstance(raw, bool) else None
        return (name, None) if name is not None else (None, f"{raw!r:.40} is none of {sorted(point.enum)}")
    if kind is PointType.BOOL:
        if isinstance(raw, bool):
            return raw, None
        if raw in (0, 1):  # many bridges send 0/1 for flags
            return bool(raw), None
        return None, f"expected bool, got {type(raw).__name__} {raw!r:.40}"
    if kind is PointType.STRING:
        return (raw, None) if isinstance(raw, str) else (None, f"expected string, got {type(raw).__name__}")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None, f"expected number, got {type(raw).__name__} {raw!r:.40}"
    if kind is PointType.INT and isinstance(raw, float) and not raw.is_integer():
        return None, f"expected integer, got {raw!r}"
    value = raw * point.scale + point.offset if (point.scale != 1.0 or point.offset) else raw
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"not a finite number: {raw!r}"
    if (point.min is not None and value < point.min) or (point.max is not None and value > point.max):
        return None, f"{value!r} out of range [{point.min}, {point.max}]"
    return (int(value) if kind is PointType.INT else float(value)), None


def decode_json(payload: bytes, compiled: CompiledProfile, device_id: str, received_at: float) -> Decoded:  # noqa: PLR0912 - the ingest hot path, inlined on purpose (see docs/performance.md)
    if len(payload) > compiled.max_payload_bytes:
        return Decoded([], [f"payload of {len(payload)} bytes exceeds {compiled.max_payload_bytes}"])
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return Decoded([], [f"not JSON: {exc}"])
    if not isinstance(doc, dict):
        return Decoded([], [f"expected a JSON object, got {type(doc).__name__}"])

    problems: list[str] = []
    ts = received_at
    if compiled.ts_steps is not None:
        raw_ts = _get(doc, compiled.ts_steps)
        if isinstance(raw_ts, int | float) and not isinstance(raw_ts, bool) and math.isfinite(raw_ts):
            ts = raw_ts / compiled.ts_divisor
        elif raw_ts is not _MISSING:
            problems.append(f"{compiled.ts_path}: not an epoch time: {raw_ts!r:.40}; using time of receipt")

    readings: list[Reading] = []
    for cp in compiled.points:
        if cp.key is None:
            raw = _get(doc, cp.steps)
        else:
            raw = doc.get(cp.key, _MISSING)
            if cp.subkey is not None and raw is not _MISSING:
                raw = raw.get(cp.subkey, _MISSING) if type(raw) is dict else _MISSING
        if raw is _MISSING:
            continue  # devices send only what changed, or different messages carry different points
        p = cp.point
        kind, why = type(raw), None
        if kind is cp.exact:
            value = raw
        elif cp.number and (kind is float or kind is int) and cp.low <= raw <= cp.high and -1e300 < raw < 1e300:
            value = float(raw)  # the bounds keep huge ints and inf/nan for `convert` to name
        elif cp.integer and kind is int and cp.low <= raw <= cp.high:
            value = raw
        else:
            value, why = convert(raw, p)
        if why is None:
            readings.append(Reading(device_id, p.name, value, ts, p.unit, p.role))
        else:
            problems.append(f"{p.path}: {why}")
            readings.append(Reading(device_id, p.name, None, ts, p.unit, p.role, Quality.BAD))
    return Decoded(readings, problems)
