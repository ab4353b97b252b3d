"""Pure decoding of a device payload into Readings, with the profile compiled once per model.

No I/O here: the decoder is a function of (bytes, compiled profile, device, receive time), tested
table-driven and benchmarked alone. A bad value never raises: it becomes a bad-quality reading and
a named problem, so one broken field does not hide the good ones beside it.

Points read by a plain JSON path are the hot path and are decoded inline. Everything else (bits, value
maps, byte layouts of binary frames, points of one message kind only, computed points) is compiled
into an `Extension` that only profiles which use it pay for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from gridedge.devices.expressions import Evaluator, Expression, alias, parse_expression
from gridedge.devices.layout import FieldReader, decode_blob, field_reader, read_field
from gridedge.devices.profile import MqttTransport, Point, PointType, Profile
from gridedge.edge.reading import Quality, Reading

PathStep = str | int
Converter = Callable[[Any, Point], tuple[Any, str | None]]


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


def converter(point: Point) -> Converter:
    """`convert`, preceded by the point's bits and value map when it has them."""
    if point.bit is None and point.map is None:
        return convert
    bit, mask = point.bit, (1 << point.bits) - 1
    table: dict[Any, Any] | None = None
    if point.map is not None:
        table = {}
        for key, value in point.map.items():
            table[key] = value
            if isinstance(key, str) and re.fullmatch(r"-?\d+", key):  # a JSON profile's keys are text
                table[int(key)] = value
    final = point.type in (PointType.BOOL, PointType.STRING)
    known = sorted(map(str, point.map)) if point.map is not None else []

    def bits_and_map(raw: Any, p: Point) -> tuple[Any, str | None]:
        if bit is not None:
            if type(raw) is not int:
                return None, f"expected an integer to take bits from, got {type(raw).__name__} {raw!r:.40}"
            raw = ((raw & 0xFFFF_FFFF_FFFF_FFFF) >> bit) & mask  # negative: its two's complement bits
        if table is not None:
            value = table.get(raw, _MISSING) if not isinstance(raw, bool | float | list | dict) else _MISSING
            if value is _MISSING:
                return None, f"{raw!r:.40} is none of {known}"
            if final:
                return value, None
            raw = value  # a mapped number goes on through scale and range
        return convert(raw, p)

    return bits_and_map


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
    convert: Converter = convert


def compile_point(point: Point) -> CompiledPoint:
    steps = compile_path(point.path or "")
    plain = point.enum is None and point.map is None and point.bit is None and point.scale == 1.0 and not point.offset
    exact = {PointType.BOOL: bool, PointType.STRING: str}.get(point.type) if plain else None
    number = plain and point.type is PointType.FLOAT
    integer = plain and point.type is PointType.INT
    low = point.min if point.min is not None else -math.inf
    high = point.max if point.max is not None else math.inf
    key = subkey = None
    if len(steps) <= 2 and all(isinstance(step, str) for step in steps):
        key, subkey = str(steps[0]), (str(steps[1]) if len(steps) == 2 else None)
    return CompiledPoint(point, steps, key, subkey, exact, number, integer, low, high, converter(point))


@dataclass(frozen=True, slots=True)
class BytePoint:
    point: Point
    reader: FieldReader
    end: int
    convert: Converter


@dataclass(frozen=True, slots=True)
class ComputedPoint:
    point: Point
    expression: Expression
    convert: Converter


@dataclass(frozen=True, slots=True)
class Group:
    """The points of one message kind (or of every message, for the base group)."""

    paths: tuple[CompiledPoint, ...] = ()
    layout: tuple[BytePoint, ...] = ()
    computed: tuple[ComputedPoint, ...] = ()


@dataclass(frozen=True, slots=True)
class Extension:
    base: Group  # points beyond plain paths, in every message
    routed: dict[Any, Group]  # route value -> points of that message kind only
    route_steps: tuple[PathStep, ...] | None
    route_path: str
    binary_steps: tuple[PathStep, ...] | None  # None: the whole payload is the binary frame
    binary_path: str
    encoding: str
    raw: bool  # the payload is not JSON at all
    names: dict[str, str]  # point name -> expression alias, for the points expressions read


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    """An MQTT profile, ready to decode."""

    profile: Profile
    transport: MqttTransport
    points: tuple[CompiledPoint, ...]  # plain JSON paths in every message: the inline hot path
    ts_steps: tuple[PathStep, ...] | None
    ts_path: str
    ts_divisor: float
    max_payload_bytes: int
    extension: Extension | None = None
    ts_text: bool = False  # RFC 3339 text rather than epoch numbers


def _group(points: list[Point], known: set[str]) -> Group:
    paths, layout, computed = [], [], []
    for p in points:
        if p.layout is not None:
            layout.append(BytePoint(p, field_reader(p.layout), p.layout.end, converter(p)))
        elif p.compute is not None:
            parsed = parse_expression(p.compute, known)
            assert isinstance(parsed, Expression), "checked when the profile loaded"
            computed.append(ComputedPoint(p, parsed, converter(p)))
        else:
            paths.append(compile_point(p))
    return Group(tuple(paths), tuple(layout), tuple(computed))


def _extension(profile: Profile, points: list[Point]) -> tuple[list[Point], Extension | None]:
    """Split the points into the plain ones of the hot path and the extension."""
    plain = [p for p in points if p.when is None and p.path is not None and p.bit is None and p.map is None]
    rest = [p for p in points if p not in plain]
    if not rest:
        return points, None
    known = {alias(p.name) for p in points if p.compute is None}
    routed: dict[Any, list[Point]] = {}
    for p in rest:
        for value in p.when or ():
            routed.setdefault(value, []).append(p)
            if isinstance(value, str) and value.isdigit():
                routed.setdefault(int(value), []).append(p)
    source = profile.binary_source
    route = profile.route_path
    return plain, Extension(
        base=_group([p for p in rest if p.when is None], known),
        routed={value: _group(ps, known) for value, ps in routed.items()},
        route_steps=compile_path(route) if route else None,
        route_path=route or "",
        binary_steps=compile_path(source.path) if source is not None and source.path else None,
        binary_path=(source.path or "payload") if source is not None else "",
        encoding=source.encoding if source is not None else "base64",
        raw=source is not None and source.path is None,
        names=aliases(points),
    )


def compile_profile(profile: Profile) -> CompiledProfile:
    ts = profile.device_time
    transport = profile.transport
    if not isinstance(transport, MqttTransport):
        raise TypeError(f"profile {profile.id!r} is not an MQTT profile")
    plain, extension = _extension(profile, profile.all_points())
    return CompiledProfile(
        profile=profile,
        transport=transport,
        points=tuple(compile_point(p) for p in plain),
        ts_steps=compile_path(ts.path) if ts else None,
        ts_path=ts.path if ts else "",
        ts_divisor=1000.0 if ts and ts.unit == "ms" else 1.0,
        max_payload_bytes=transport.max_payload_bytes,
        extension=extension,
        ts_text=ts is not None and ts.unit == "rfc3339",
    )


@dataclass(frozen=True, slots=True)
class Decoded:
    readings: list[Reading]
    problems: list[str]  # each names the field; empty when everything decoded
    device_time: float | None = None  # the message's own timestamp, when the profile has one and it was valid


def _device_time(raw: Any, compiled: CompiledProfile) -> float | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw) and not compiled.ts_text:
        return raw / compiled.ts_divisor
    if isinstance(raw, str) and compiled.ts_text and len(raw) <= 40:
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            return None
        return moment.timestamp() if moment.tzinfo is not None else None  # a time without zone is a guess
    return None


def decode_json(payload: bytes, compiled: CompiledProfile, device_id: str, received_at: float) -> Decoded:  # noqa: PLR0912 - the ingest hot path, inlined on purpose (see docs/performance.md)
    if len(payload) > compiled.max_payload_bytes:
        return Decoded([], [f"payload of {len(payload)} bytes exceeds {compiled.max_payload_bytes}"])
    ext = compiled.extension
    if ext is not None and ext.raw:
        out = Out(device_id, received_at, [], [])
        _extend(None, payload, ext, out)
        return Decoded(out.readings, out.problems)
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return Decoded([], [f"not JSON: {exc}"])
    if not isinstance(doc, dict):
        return Decoded([], [f"expected a JSON object, got {type(doc).__name__}"])

    problems = []
    ts = received_at
    device_time = None
    if compiled.ts_steps is not None:
        raw_ts = _get(doc, compiled.ts_steps)
        kind = type(raw_ts)
        if (kind is int or kind is float) and not compiled.ts_text and -1e300 < raw_ts < 1e300:
            device_time = raw_ts / compiled.ts_divisor  # epoch numbers: most devices, decided inline
        else:
            device_time = _device_time(raw_ts, compiled)
        if device_time is not None:
            ts = device_time
        elif raw_ts is not _MISSING:
            problems.append(
                f"{compiled.ts_path}: not an epoch time: {raw_ts!r:.40}; using time of receipt"
                if not compiled.ts_text
                else f"{compiled.ts_path}: not an RFC 3339 time: {raw_ts!r:.40}; using time of receipt"
            )

    readings = []
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
    if ext is not None:
        _extend(doc, payload, ext, Out(device_id, ts, readings, problems))
    return Decoded(readings, problems, device_time)


@dataclass(slots=True)
class Out:
    """One message's readings and problems as they are produced."""

    device_id: str
    ts: float
    readings: list[Reading]
    problems: list[str]

    def emit(self, p: Point, value: Any, why: str | None, where: str) -> None:
        if why is None:
            self.readings.append(Reading(self.device_id, p.name, value, self.ts, p.unit, p.role))
        else:
            self.problems.append(f"{where}: {why}")
            self.readings.append(Reading(self.device_id, p.name, None, self.ts, p.unit, p.role, Quality.BAD))


def _frame(doc: Any, payload: bytes, ext: Extension, out: Out) -> bytes | None:
    if ext.raw:
        return payload
    blob = _get(doc, ext.binary_steps or ())
    if blob is _MISSING:
        return None
    frame, why = decode_blob(blob, ext.encoding)
    if why is not None:
        out.problems.append(f"{ext.binary_path}: {why}")
    return frame


def _extend(doc: Any, payload: bytes, ext: Extension, out: Out) -> None:
    """The points beyond plain paths: routed, bits and maps, byte layouts, then the computed ones."""
    groups = [ext.base]
    if ext.route_steps is not None:
        kind = _get(doc, ext.route_steps)
        group = ext.routed.get(kind) if isinstance(kind, int | str) and not isinstance(kind, bool) else None
        if group is not None:
            groups.append(group)
        elif kind is not _MISSING and ext.routed:
            out.problems.append(f"{ext.route_path}: no points for {kind!r:.40} (known: {sorted(map(str, ext.routed))})")
    frame: bytes | None = None
    if any(g.layout for g in groups):
        frame = _frame(doc, payload, ext, out)
    for g in groups:
        for cp in g.paths:
            raw = _get(doc, cp.steps)
            if raw is not _MISSING:
                value, why = cp.convert(raw, cp.point)
                out.emit(cp.point, value, why, cp.point.path or "")
        for bp in g.layout if frame is not None else ():
            where = f"{bp.point.name} (byte {bp.reader[0]})"
            if len(frame) < bp.end:  # type: ignore[arg-type]
                out.emit(bp.point, None, f"frame has {len(frame)} bytes, the point needs {bp.end}", where)  # type: ignore[arg-type]
                continue
            value, why = bp.convert(read_field(frame, bp.reader), bp.point)  # type: ignore[arg-type]
            out.emit(bp.point, value, why, where)
    computed = [c for g in groups for c in g.computed]
    if computed:
        compute(computed, ext.names, out)


def aliases(points: list[Point]) -> dict[str, str]:
    """Point name -> its name in expressions, for the points some expression reads."""
    known = {alias(p.name) for p in points if p.compute is None}
    reads: set[str] = set()
    for p in points:
        if p.compute is not None:
            parsed = parse_expression(p.compute, known)
            assert isinstance(parsed, Expression), "checked when the profile loaded"
            reads.update(parsed.names)
    return {p.name: alias(p.name) for p in points if alias(p.name) in reads}


def computed_points(points: list[Point]) -> tuple[ComputedPoint, ...]:
    return _group(
        [p for p in points if p.compute is not None], {alias(p.name) for p in points if p.compute is None}
    ).computed


_EVALUATOR = Evaluator()  # stateless between calls: decoding stays a pure function


def compute(computed: Sequence[ComputedPoint], names_of: dict[str, str], out: Out) -> None:
    """The computed points' readings from the good readings already in `out`."""
    names: dict[str, Any] = {}
    bad: set[str] = set()
    for r in out.readings:
        name = names_of.get(r.point)
        if name is not None:
            if r.quality is Quality.GOOD:
                names[name] = r.value
            else:
                bad.add(name)
    for c in computed:
        p, reads = c.point, c.expression.names
        if any(n in bad for n in reads):
            out.emit(p, None, f"reads a bad-quality point ({', '.join(n for n in reads if n in bad)})", p.name)
        elif all(n in names for n in reads):
            value, why = _EVALUATOR.value(c.expression, names)
            if why is None:
                value, why = c.convert(value, p)
            out.emit(p, value, why, p.name)
        # else: a point it reads is not in this message, so neither is this one
