"""The device profile: a device model described as data, so integrators add models without Python.

A profile says how a model's transport carries each point (a path into its JSON, or a Modbus
register), the point's type, unit, range and semantic role (what rules refer to), and how often the
device must be heard from. Ports or channels that repeat are written once with a `ports` block: a
10-port charging pile is one profile, its points named `port1.current` ... `port10.current`.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from gridedge.devices.envelopes import FIELDS, Envelope
from gridedge.devices.expressions import alias, parse_expression
from gridedge.devices.layout import BinarySource, ByteField
from gridedge.devices.roles import Family, qualified, role_problems, rules_unit
from gridedge.edge.config import CrossFieldError, Loc, StrictModel, load_yaml
from gridedge.edge.errors import ConfigError

Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]

# A JSON path in the dotted subset every vendor payload we know needs: `state.smoke`, `ports[2].temp`.
# Compiled once into a tuple of keys and indexes; full JSONPath engines cost ten times more per read.
# In a `ports` block `{i}` stands for the port's index from 0: `ports[{i}].temp`.
JSON_PATH = r"^\$?\.?[A-Za-z_][A-Za-z0-9_-]*(\[(\d+|\{i\})\])*(\.[A-Za-z_][A-Za-z0-9_-]*(\[(\d+|\{i\})\])*)*$"

MAX_REGISTERS_PER_READ = 125  # the Modbus limit for function codes 3 and 4
MAX_BITS_PER_READ = 2000  # the Modbus limit for function codes 1 and 2


class PointType(StrEnum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STRING = "string"


class Table(StrEnum):
    """The four Modbus data tables; coils and discrete inputs hold bits, the others 16-bit words."""

    COIL = "coil"
    DISCRETE = "discrete"
    INPUT = "input"
    HOLDING = "holding"

    @property
    def holds_bits(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE)


class DataType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT64 = "float64"  # e.g. energy counters of charging stations

    @property
    def words(self) -> int:
        return int(self.value.removeprefix("u").removeprefix("int").removeprefix("float")) // 16


Order = Literal["big", "little"]


class Register(StrictModel):
    """Where a point sits in a Modbus device, and how its words become a number."""

    table: Table = Field(default=Table.HOLDING, description="coil, discrete, input or holding.")
    address: int = Field(ge=0, le=65535, description="0-based address (the device manual's 40001 is 0).")
    data_type: DataType = Field(
        default=DataType.UINT16, description="For input and holding registers: int16 ... uint64, float32, float64."
    )
    byte_order: Order = Field(default="big", description="Byte order inside each 16-bit word.")
    word_order: Order = Field(default="big", description="Which word of a 32-bit value comes first.")
    bit: int | None = Field(default=None, ge=0, le=63, description="Take bits from here (0 = least significant).")
    bits: int = Field(default=1, ge=1, le=64, description="How many bits from `bit`: a bitfield.")

    @property
    def words(self) -> int:
        return 1 if self.table.holds_bits else self.data_type.words

    @model_validator(mode="after")
    def _consistent(self) -> Register:
        if self.table.holds_bits and (self.bit is not None or self.data_type is not DataType.UINT16):
            raise ValueError(f"a {self.table.value} holds one bit: no data_type or bit")
        if self.bit is not None and self.data_type in (DataType.FLOAT32, DataType.FLOAT64):
            raise ValueError("bits of a float make no number: take bits from an integer type")
        if self.bit is not None and self.bit + self.bits > 16 * self.data_type.words:
            raise ValueError(f"bits {self.bit}..{self.bit + self.bits - 1} do not fit in {self.data_type.value}")
        if self.address + self.words > 65536:
            raise ValueError("register runs past address 65535")
        return self


MapValue = bool | int | float | str


class Point(StrictModel):
    """One value the device reports. Its value comes from exactly one source: a JSON `path`, a Modbus
    register, a byte `layout` in a binary payload, or an expression over other points (`compute`)."""

    name: Identifier = Field(description="Point name, unique in the profile.")
    path: str | None = Field(
        default=None, pattern=JSON_PATH, description="MQTT: where the value sits in the JSON payload, e.g. state.smoke."
    )
    modbus: Register | None = Field(default=None, description="Modbus: which register holds the value.")
    layout: ByteField | None = Field(
        default=None, description="Binary payloads: offset, type and byte order of the value (see `binary`)."
    )
    compute: str | None = Field(
        default=None,
        max_length=500,
        description="An expression over other points of the same message, e.g. `(raw_temp - 400) / 10`.",
    )
    when: list[int | str] | None = Field(
        default=None,
        min_length=1,
        description="Only in messages whose `route` field (the fPort, a message type) has one of these values.",
    )
    bit: int | None = Field(
        default=None, ge=0, le=63, description="Take bits of the integer from here (0 = least significant)."
    )
    bits: int = Field(default=1, ge=1, le=64, description="How many bits from `bit`: 1 for a flag, more for a field.")
    map: dict[int | str, MapValue] | None = Field(
        default=None, description="Raw code -> value of the point's type: {0: false, 1: true}, {3: fault}, {2: 0.5}."
    )
    type: PointType = Field(description="Type the value must have; anything else is bad quality.")
    role: Identifier | None = Field(default=None, description="Semantic role rules refer to (smoke, current...).")
    unit: str | None = Field(
        default=None,
        description="Unit of the value after scaling, e.g. %, degC, A; converted when the role's unit differs.",
    )
    scale: float = Field(default=1.0, description="value = raw * scale + offset (numbers only).")
    offset: float = 0.0
    min: float | None = Field(default=None, description="Values below are out of range: bad quality.")
    max: float | None = Field(default=None, description="Values above are out of range: bad quality.")
    enum: dict[int, str] | None = Field(
        default=None, description="Raw integer -> name, for a string point (e.g. 0: idle, 1: charging)."
    )
    writable: bool = Field(
        default=False,
        description="Modbus coil or holding register the centre may set by a signed command (read back after).",
    )

    def sources(self) -> list[str]:
        return [f for f in ("path", "modbus", "layout", "compute") if getattr(self, f) is not None]

    def problems(self) -> Iterator[tuple[Loc, str]]:
        """Contradictions inside the point, each at the field that holds it."""
        numeric = self.type in (PointType.INT, PointType.FLOAT)
        if len(self.sources()) > 1:
            yield (self.sources()[1],), f"one source per point; this one has {' and '.join(self.sources())}"
        if not numeric and (self.scale != 1.0 or self.offset != 0.0):
            yield ("scale" if self.scale != 1.0 else "offset",), "scale/offset apply to numbers only"
        if self.type is PointType.INT and not (float(self.scale).is_integer() and float(self.offset).is_integer()):
            yield (
                ("scale",),
                f"an int point scaled by {self.scale:g} would lose its fraction (220.5 V read as 220): "
                "make it `type: float`",
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            yield ("min",), "min is above max"
        yield from self._code_problems()
        yield from self._write_problems()

    def _write_problems(self) -> Iterator[tuple[Loc, str]]:
        if not self.writable:
            return
        reg = self.modbus
        if reg is None:
            yield ("writable",), "only a Modbus coil or holding register can be written"
        elif reg.table not in (Table.COIL, Table.HOLDING):
            yield ("writable",), f"a {reg.table.value} is read-only: only coils and holding registers can be written"
        elif reg.bit is not None:
            yield ("writable",), "a bit inside a register cannot be written alone; write the whole register"

    def _code_problems(self) -> Iterator[tuple[Loc, str]]:
        """Enums, maps and bits: how a raw code becomes the value."""
        if self.enum is not None and self.type is not PointType.STRING:
            yield ("enum",), "an enum maps numbers to names, so its type must be string; use `map` for other types"
        if self.enum is not None and self.map is not None:
            yield ("map",), "`enum` and `map` both given: `map` alone says the same"
        for key, value in (self.map or {}).items():
            if not _fits(value, self.type):
                yield ("map", key), f"{value!r} is not a {self.type.value} (the point's type)"
        if self.bit is not None and self.modbus is not None:
            yield ("bit",), "for a register write `bit` inside `modbus:`"
        if self.bit is not None and self.compute is not None:
            yield ("bit",), "a computed point takes no bits; compute them: `(x >> 3) & 1`"
        if self.bit is not None and self.bit + self.bits > 64:
            yield ("bits",), f"bits {self.bit}..{self.bit + self.bits - 1} run past 64"
        if self.bit is not None and self.layout is not None:
            if self.layout.type.is_float:
                yield ("bit",), "bits of a float make no number; use an int type in `layout`"
            elif self.bit + self.bits > 8 * self.layout.type.width:
                yield ("bits",), f"bits {self.bit}..{self.bit + self.bits - 1} do not fit in {self.layout.type.value}"
        if (
            (self.modbus is not None or self.layout is not None)
            and self.type is PointType.STRING
            and self.enum is None
            and self.map is None
        ):
            yield ("type",), "a register or byte holds a number; a string point needs an `enum` or `map`"


def _fits(value: MapValue, kind: PointType) -> bool:
    if kind is PointType.BOOL:
        return isinstance(value, bool)
    if kind is PointType.STRING:
        return isinstance(value, str)
    if kind is PointType.INT:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


class Timestamp(StrictModel):
    path: str = Field(pattern=JSON_PATH, description="Where the device's own timestamp sits.")
    unit: Literal["s", "ms", "rfc3339"] = Field(
        default="s", description="Epoch seconds or milliseconds, or an RFC 3339 text (2024-05-01T08:00:00Z)."
    )


class Route(StrictModel):
    """The field that says which kind of message this is, so points with `when` apply to theirs only."""

    path: str = Field(pattern=JSON_PATH, description="E.g. fPort, or a message type field like `event`.")


class MqttTransport(StrictModel):
    type: Literal["mqtt"] = "mqtt"
    topic: str = Field(
        description="Topic the device publishes on; `{key}` stands for the device's key from the inventory, "
        "`+` for a level that differs between deployments (a network server's application id).",
    )
    max_payload_bytes: int = Field(default=65_536, ge=64, description="Larger payloads are refused.")

    @model_validator(mode="after")
    def _one_key(self) -> MqttTransport:
        levels = self.topic.split("/")
        if levels.count("{key}") != 1 or "#" in self.topic or any("+" in lv and lv != "+" for lv in levels):
            raise ValueError("topic must have `{key}` as one whole level, `+` only as whole levels, and no `#`")
        return self

    @property
    def wildcard(self) -> bool:
        return "+" in self.topic.split("/")

    @property
    def key_level(self) -> int:
        return self.topic.split("/").index("{key}")

    def topic_for(self, key: str) -> str:
        return self.topic.replace("{key}", key)

    def subscription(self) -> str:
        return self.topic.replace("{key}", "+")


class ModbusTransport(StrictModel):
    """A Modbus device (TCP or RTU: the inventory says which bus and unit id)."""

    type: Literal["modbus"]
    max_gap: int = Field(
        default=16,
        ge=0,
        le=MAX_REGISTERS_PER_READ,
        description="Unused registers one read may span to join two groups; 0 for devices that refuse unmapped ones.",
    )
    poll_interval_s: float = Field(default=5.0, gt=0, description="Default poll period; the inventory may override.")


Transport = Annotated[MqttTransport | ModbusTransport, Field(discriminator="type")]


class Ports(StrictModel):
    """Points that repeat per port or channel, each port's registers `stride` after the previous one's."""

    count: int = Field(ge=1, le=256, description="How many ports.")
    name: str = Field(default="port", pattern=r"^[a-z][a-z0-9_-]{0,15}$", description="Prefix of the point names.")
    first: int = Field(default=1, ge=0, description="Number of the first port, as printed on the device.")
    stride: int = Field(default=0, ge=0, description="Modbus: registers from one port's block to the next.")
    points: list[Point] = Field(min_length=1, description="Points of port 1; names become `port{n}.{name}`.")


class Liveness(StrictModel):
    """How often the device must be heard from; silence longer than `offline_after_s` is an event."""

    heartbeat_interval_s: float = Field(gt=0, description="Period of the device's heartbeat.")
    offline_after_s: float = Field(gt=0, description="Silence that makes the device offline.")

    @model_validator(mode="after")
    def _after_interval(self) -> Liveness:
        if self.offline_after_s < self.heartbeat_interval_s:
            raise ValueError("offline_after_s must be at least heartbeat_interval_s")
        return self


def _effective(point: Point, family: Family | None) -> Point:
    if point.role is None:
        return point
    unit, (factor, plus) = rules_unit(point.role, family, point.unit)
    update: dict[str, object] = {"role": qualified(point.role, family)}
    if (factor, plus) != (1.0, 0.0):
        update |= {
            "unit": unit,
            "scale": point.scale * factor,
            "offset": point.offset * factor + plus,
            "min": None if point.min is None else point.min * factor + plus,
            "max": None if point.max is None else point.max * factor + plus,
            "type": PointType.FLOAT if point.type is PointType.INT else point.type,  # converted: not whole
        }
    return point.model_copy(update=update)


def _port_point(point: Point, ports: Ports, index: int) -> Point:
    update: dict[str, object] = {"name": f"{ports.name}{ports.first + index}.{point.name}"}
    if point.path is not None:
        update["path"] = point.path.replace("{i}", str(index))
    if point.modbus is not None:
        update["modbus"] = point.modbus.model_copy(update={"address": point.modbus.address + index * ports.stride})
    return point.model_copy(update=update)


class Profile(StrictModel):
    id: Identifier = Field(description="Profile id the inventory refers to.")
    vendor: str
    model: str
    description: str = ""
    family: Family | None = Field(
        default=None,
        description="Device family; scopes roles like temperature so only that family's rules see them.",
    )
    transport: Transport
    envelope: Envelope | None = Field(
        default=None,
        description="LoRaWAN network server JSON (chirpstack_v4, ttn_v3): sets `binary`, `route` and `timestamp`.",
    )
    binary: BinarySource | None = Field(
        default=None, description="Where the bytes of `layout` points are: a hex/base64 field or the whole payload."
    )
    route: Route | None = Field(default=None, description="The field that picks the points of a message (`when`).")
    timestamp: Timestamp | None = Field(default=None, description="MQTT: device time; absent: time of receipt.")
    liveness: Liveness | None = None
    points: list[Point] = Field(default_factory=list, description="Points of the device as a whole.")
    ports: Ports | None = Field(default=None, description="Points repeated per port or channel.")

    def all_points(self) -> list[Point]:
        """Every point, ports expanded, as readings carry it: roles scoped to the family, values in the
        unit the role's rules compare in (the conversion folded into scale, offset and range, so
        decoding pays nothing for it)."""
        return [_effective(p, self.family) for p, _ in self.located_points()]

    def located_points(self) -> list[tuple[Point, Loc]]:
        """Every point as written, with where (a port's points at their template in `ports`)."""
        expanded: list[tuple[Point, Loc]] = [(p, ("points", i)) for i, p in enumerate(self.points)]
        if self.ports is not None:
            for i in range(self.ports.count):
                expanded += [
                    (_port_point(p, self.ports, i), ("ports", "points", j)) for j, p in enumerate(self.ports.points)
                ]
        return expanded

    @property
    def binary_source(self) -> BinarySource | None:
        if self.binary is None and self.envelope is not None:
            return BinarySource(path=FIELDS[self.envelope].frame)
        return self.binary

    @property
    def route_path(self) -> str | None:
        if self.route is None and self.envelope is not None:
            return FIELDS[self.envelope].port
        return self.route.path if self.route is not None else None

    @property
    def device_time(self) -> Timestamp | None:
        if self.timestamp is None and self.envelope is not None:
            return Timestamp(path=FIELDS[self.envelope].time, unit="rfc3339")
        return self.timestamp

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        located = self.located_points()
        if not located:
            raise CrossFieldError([(("points",), "a profile needs at least one point")])
        templates: list[tuple[Point, Loc]] = [(p, ("points", i)) for i, p in enumerate(self.points)]
        if self.ports is not None:
            templates += [(p, ("ports", "points", j)) for j, p in enumerate(self.ports.points)]
        problems = [(loc + sub, m) for p, loc in templates for sub, m in p.problems()]
        problems += [
            (loc + sub, m)
            for p, loc in templates
            if p.role is not None
            for sub, m in role_problems(p.role, self.family, p.type.value, p.unit)
        ]
        problems += _duplicates(located) + _transport_problems(self, located) + _computed_problems(located)
        if problems:
            raise CrossFieldError(sorted(dict.fromkeys(problems), key=lambda lm: [str(x) for x in lm[0]]))
        return self


def _duplicates(points: list[tuple[Point, Loc]]) -> list[tuple[Loc, str]]:
    seen: set[str] = set()
    found: list[tuple[Loc, str]] = []
    for p, loc in points:
        if p.name in seen:
            found.append(((*loc, "name"), f"point name {p.name!r} appears twice"))
        seen.add(p.name)
    return found


def _transport_problems(profile: Profile, points: list[tuple[Point, Loc]]) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    mqtt = isinstance(profile.transport, MqttTransport)
    raw = (source := profile.binary_source) is not None and source.path is None
    routed = profile.route_path is not None
    for p, loc in points:
        if not p.sources():
            what = "a `path`, `layout` or `compute`" if mqtt else "a `modbus` register or `compute`"
            problems.append((loc, f"point {p.name!r} needs {what}"))
        if mqtt and p.modbus is not None:
            problems.append(((*loc, "modbus"), "an MQTT point has no `modbus` register"))
        if not mqtt and (p.path is not None or p.layout is not None or p.when is not None):
            field = "path" if p.path is not None else "layout" if p.layout is not None else "when"
            problems.append(((*loc, field), f"a Modbus point has no `{field}`"))
        if p.layout is not None and profile.binary_source is None:
            problems.append(((*loc, "layout"), "a `layout` needs `binary:` (where the bytes are) or an `envelope`"))
        if raw and p.path is not None:
            problems.append(((*loc, "path"), "the payload is binary (`binary` has no path): no JSON to take it from"))
        if p.when is not None and not routed:
            problems.append(((*loc, "when"), "`when` needs a `route:` (the field that says the message kind)"))
    if not mqtt:
        for field in ("timestamp", "envelope", "binary", "route"):
            if getattr(profile, field) is not None:
                why = "carry no timestamp; readings take the time of the poll" if field == "timestamp" else "are polled"
                problems.append(((field,), f"Modbus devices {why}: no `{field}`"))
        problems += _overlaps(points)
    elif raw and (profile.timestamp is not None or profile.route is not None):
        field = "timestamp" if profile.timestamp is not None else "route"
        problems.append(((field,), f"the payload is binary (`binary` has no path): no JSON field for `{field}`"))
    return problems


def _computed_problems(points: list[tuple[Point, Loc]]) -> list[tuple[Loc, str]]:
    """Expressions parse, and read only points that are not computed themselves (no chains, no cycles)."""
    known = {alias(p.name) for p, _ in points if p.compute is None}
    problems: list[tuple[Loc, str]] = []
    for p, loc in points:
        if p.compute is None:
            continue
        parsed = parse_expression(p.compute, known)
        if isinstance(parsed, tuple):
            problems.append(((*loc, "compute"), f"column {parsed[0]}: {parsed[1]}"))
    return problems


def _overlaps(points: list[tuple[Point, Loc]]) -> list[tuple[Loc, str]]:
    """Two points on the same registers disagree about what the device holds, unless both are bitfields."""
    owner: dict[tuple[Table, int], tuple[str, Register]] = {}
    problems: list[tuple[Loc, str]] = []
    for p, loc in points:
        if p.modbus is None:
            continue
        for address in range(p.modbus.address, p.modbus.address + p.modbus.words):
            name, reg = owner.setdefault((p.modbus.table, address), (p.name, p.modbus))
            if name != p.name and not _bitfields_share(reg, p.modbus):
                problems.append(
                    ((*loc, "modbus"), f"points {name!r} and {p.name!r} overlap at {p.modbus.table.value} {address}")
                )
                break
    return problems


def _bitfields_share(a: Register, b: Register) -> bool:
    if a.bit is None or b.bit is None or a.address != b.address or a.data_type != b.data_type:
        return False
    return a.bit + a.bits <= b.bit or b.bit + b.bits <= a.bit


BUILTIN_PROFILES = Path(__file__).parent / "profiles"
PROFILE_SUFFIXES = (".yaml", ".yml", ".json")  # JSON is YAML: one loader, the same line numbers


def load_profile(path: Path) -> Profile:
    if path.suffix not in PROFILE_SUFFIXES:
        raise ConfigError(str(path), [f"1: not a profile file: name it *.yaml, *.yml or *.json (got {path.suffix!r})"])
    return load_yaml(path, Profile)


def profile_files(directory: Path) -> list[Path]:
    """The profiles in a directory; other files in it are named, so a `.yamll` typo is not silently skipped."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in PROFILE_SUFFIXES)


def stray_files(directory: Path) -> list[Path]:
    """Files in a profile directory that are not profiles by their name (a README is fine)."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.suffix not in PROFILE_SUFFIXES and p.suffix not in (".md", ".txt") and p.name[0] != "."
    )


def load_profiles(directories: list[Path]) -> dict[str, Profile]:
    """Every profile (`*.yaml`, `*.yml`, `*.json`) in the directories, later directories overriding earlier
    ids. An id defined twice in one directory is an error naming both files."""
    profiles: dict[str, Profile] = {}
    for directory in directories:
        if not directory.is_dir():
            continue  # `gridedge doctor` names a missing directory; the agent runs with what exists
        seen: dict[str, Path] = {}
        for path in profile_files(directory):
            profile = load_profile(path)
            if profile.id in seen:
                raise ConfigError(
                    str(path), [f"1: id: profile id {profile.id!r} is also defined in {seen[profile.id]}"]
                )
            seen[profile.id] = path
            profiles[profile.id] = profile
    return profiles
