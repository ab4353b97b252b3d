"""`gridedge profile test`'s logic: a sample payload or register dump decoded with a profile, and what the
sample did not contain, so an integrator sees a path that matches nothing before the device goes live."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml

from gridedge.devices.binding import compile_any
from gridedge.devices.decode import CompiledProfile, Decoded, decode_json
from gridedge.devices.profile import Profile
from gridedge.devices.registers import NOT_IN_ANSWER, decode_registers, dump_answers, parse_dump
from gridedge.edge.reading import Reading


@dataclass(frozen=True, slots=True)
class SampleResult:
    readings: list[Reading]  # the points the sample holds
    problems: list[str]  # values that do not fit their point: the profile or the device is wrong
    absent: list[str]  # points the sample does not hold (or, routed, of this message kind)
    device_time: float | None = None  # the device's own timestamp, when the profile reads one
    other_kinds: list[str] = field(default_factory=list)  # routed points of other message kinds


def _route(payload: bytes, compiled: CompiledProfile) -> Any:
    ext = compiled.extension
    if ext is None or ext.route_steps is None:
        return None
    try:
        doc: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    for step in ext.route_steps:
        try:
            doc = doc[step]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def try_sample(profile: Profile, sample: bytes, now: float) -> SampleResult:
    """Decode `sample` (an MQTT payload, or for Modbus a register dump in JSON or YAML). Raises ValueError
    when a register dump is not one."""
    compiled = compile_any(profile)
    if isinstance(compiled, CompiledProfile):
        decoded = decode_json(sample, compiled, "sample", now)
        route = _route(sample, compiled)
        points = profile.all_points()
        kinds = {str(route)} if route is not None else set()
        mine = [p for p in points if p.when is None or {str(w) for w in p.when} & kinds]
        got = {r.point for r in decoded.readings}
        return SampleResult(
            decoded.readings,
            decoded.problems,
            [p.name for p in mine if p.name not in got],
            decoded.device_time,
            [p.name for p in points if p not in mine],
        )
    try:
        doc = yaml.safe_load(sample)
    except yaml.YAMLError as exc:
        raise ValueError(f"not JSON or YAML: {exc}") from None
    decoded = decode_registers(compiled, dump_answers(compiled, parse_dump(doc)), "sample", now)
    return _split_absent(decoded)


def _split_absent(decoded: Decoded) -> SampleResult:
    absent = [p.split(" (")[0] for p in decoded.problems if p.endswith(NOT_IN_ANSWER)]
    problems = [p for p in decoded.problems if not p.endswith(NOT_IN_ANSWER)]
    return SampleResult([r for r in decoded.readings if r.point not in absent], problems, absent)
