"""The device profile: a device model described as data, so integrators add models without Python.

A profile says how a model's transport carries each point (a path into its JSON, or a Modbus
register), the point's type, unit, range and semantic role (what rules refer to), and how often the
device must be heard from. Ports or channels that repeat are written once with a `ports` block: a
10-port charging pile is one profile, its points named `port1.current` ... `port10.current`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from gridedge.edge.config import StrictModel, load_yaml

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

    @property
    def words(self) -> int:
        return 1 if self in (DataType.INT16, DataType.UINT16) else 2


Order = Literal["big", "little"]


class Register(StrictModel):
    """Where a point sits in a Modbus device, and how its words become a number."""

    table: Table = Field(default=Table.HOLDING, description="coil, discrete, input or holding.")
    address: int = Field(ge=0, le=65535, description="0-based address (the device manual's 40001 is 0).")
    data_type: DataType = Field(default=DataType.UINT16, description="For input and holding registers.")
    byte_order: Order = Field(default="big", description="Byte order inside each 16-bit word.")
    word_order: Order = Field(default="big", description="Which word of a 32-bit value comes first.")
    bit: int | None = Field(default=None, ge=0, le=31, description="Take bits from here (0 = least significant).")
    bits: int = Field(default=1, ge=1, le=32, description="How many bits from `bit`: a bitfield.")

    @property
    def words(self) -> int:
        return 1 if self.table.holds_bits else self.data_type.words

    @model_validator(mode="after")
    def _consistent(self) -> Register:
        if self.table.holds_bits and (self.bit is not None or self.data_type is not DataType.UINT16):
            raise ValueError(f"a {self.table.value} holds one bit: no data_type or bit")
        if self.bit is not None and self.bit + self.bits > 16 * self.data_type.words:
            raise ValueError(f"bits {self.bit}..{self.bit + self.bits - 1} do not fit in {self.data_type.value}")
        if self.address + self.words > 65536:
            raise ValueError("register runs past address 65535")
        return self


class Point(StrictModel):
    """One value the device reports."""

    name: Identifier = Field(description="Point name, unique in the profile.")
    path: str | None = Field(
        default=None, pattern=JSON_PATH, description="MQTT: where the value sits in the JSON payload, e.g. state.smoke."
    )
    modbus: Register | None = Field(default=None, description="Modbus: which register holds the value.")
    type: PointType = Field(description="Type the value must have; anything else is bad quality.")
    role: Identifier | None = Field(default=None, description="Semantic role rules refer to (smoke, current...).")
    unit: str | None = Field(default=None, description="Unit of the value after scaling, e.g. %, degC, A.")
    scale: float = Field(default=1.0, description="value = raw * scale + offset (numbers only).")
    offset: float = 0.0
    min: float | None = Field(default=None, description="Values below are out of range: bad quality.")
    max: float | None = Field(default=None, description="Values above are out of range: bad quality.")
    enum: dict[int, str] | None = Field(
        default=None, description="Raw integer -> name, for a string point (e.g. 0: idle, 1: charging)."
    )

    def problems(self) -> Iterator[str]:
        if self.type in (PointType.BOOL, PointType.STRING) and (self.scale != 1.0 or self.offset != 0.0):
            yield f"point {self.name!r}: scale/offset apply to numbers only"
        if self.min is not None and self.max is not None and self.min > self.max:
            yield f"point {self.name!r}: min is above max"
        if self.enum is not None and self.type is not PointType.STRING:
            yield f"point {self.name!r}: an enum maps numbers to names, so its type must be string"
        if self.modbus is not None and self.type is PointType.STRING and self.enum is None:
            yield f"point {self.name!r}: a register holds a number; a string point needs an enum"


class Timestamp(StrictModel):
    path: str = Field(pattern=JSON_PATH, description="Where the device's own timestamp sits.")
    unit: Literal["s", "ms"] = Field(default="s", description="Epoch seconds or milliseconds.")


class MqttTransport(StrictModel):
    type: Literal["mqtt"] = "mqtt"
    topic: str = Field(
        description="Topic the device publishes on; `{key}` stands for the device's key from the inventory.",
    )
    max_payload_bytes: int = Field(default=65_536, ge=64, description="Larger payloads are refused.")

    @model_validator(mode="after")
    def _one_key(self) -> MqttTransport:
        if self.topic.count("{key}") != 1 or re.search(r"[+#]", self.topic):
            raise ValueError("topic must contain `{key}` exactly once and no MQTT wildcards")
        return self

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
    transport: Transport
    timestamp: Timestamp | None = Field(default=None, description="MQTT: device time; absent: time of receipt.")
    liveness: Liveness | None = None
    points: list[Point] = Field(default_factory=list, description="Points of the device as a whole.")
    ports: Ports | None = Field(default=None, description="Points repeated per port or channel.")

    def all_points(self) -> list[Point]:
        """Every point, ports expanded: what the device actually reports."""
        expanded = list(self.points)
        if self.ports is not None:
            for i in range(self.ports.count):
                expanded.extend(_port_point(p, self.ports, i) for p in self.ports.points)
        return expanded

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        points = self.all_points()
        if not points:
            raise ValueError("a profile needs at least one point")
        problems = [p for point in [*self.points, *(self.ports.points if self.ports else [])] for p in point.problems()]
        problems += _duplicates(points) + _transport_problems(self, points)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _duplicates(points: list[Point]) -> list[str]:
    seen: set[str] = set()
    found = []
    for p in points:
        if p.name in seen:
            found.append(f"point name {p.name!r} appears twice")
        seen.add(p.name)
    return found


def _transport_problems(profile: Profile, points: list[Point]) -> list[str]:
    if isinstance(profile.transport, MqttTransport):
        return [f"point {p.name!r}: an MQTT point needs a `path`" for p in points if p.path is None] + [
            f"point {p.name!r}: an MQTT point has no `modbus` register" for p in points if p.modbus is not None
        ]
    problems = [f"point {p.name!r}: a Modbus point needs a `modbus` register" for p in points if p.modbus is None]
    problems += [f"point {p.name!r}: a Modbus point has no `path`" for p in points if p.path is not None]
    if profile.timestamp is not None:
        problems.append("timestamp: Modbus devices carry no timestamp; readings take the time of the poll")
    return problems + _overlaps(points)


def _overlaps(points: list[Point]) -> list[str]:
    """Two points on the same registers disagree about what the device holds, unless both are bitfields."""
    owner: dict[tuple[Table, int], tuple[str, Register]] = {}
    problems = []
    for p in points:
        if p.modbus is None:
            continue
        for address in range(p.modbus.address, p.modbus.address + p.modbus.words):
            name, reg = owner.setdefault((p.modbus.table, address), (p.name, p.modbus))
            if name != p.name and not _bitfields_share(reg, p.modbus):
                problems.append(f"points {name!r} and {p.name!r} overlap at {p.modbus.table.value} {address}")
                break
    return problems


def _bitfields_share(a: Register, b: Register) -> bool:
    if a.bit is None or b.bit is None or a.address != b.address or a.data_type != b.data_type:
        return False
    return a.bit + a.bits <= b.bit or b.bit + b.bits <= a.bit


BUILTIN_PROFILES = Path(__file__).parent / "profiles"


def load_profile(path: Path) -> Profile:
    return load_yaml(path, Profile)


def load_profiles(directories: list[Path]) -> dict[str, Profile]:
    """Every `*.yaml` profile in the directories, later directories overriding earlier ids."""
    profiles: dict[str, Profile] = {}
    for directory in directories:
        for path in sorted(directory.glob("*.yaml")):
            profile = load_profile(path)
            profiles[profile.id] = profile
    return profiles
