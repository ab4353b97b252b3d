"""The device profile: a device model described as data, so integrators add models without Python.

A profile says how a model's payload carries each point (a path into its JSON), the point's type,
unit, range and semantic role (what rules refer to), and how often the device must be heard from.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from gridedge.edge.config import StrictModel, load_yaml

Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]

# A JSON path in the dotted subset every vendor payload we know needs: `state.smoke`, `ports[2].temp`.
# Compiled once into a tuple of keys and indexes; full JSONPath engines cost ten times more per read.
JSON_PATH = r"^\$?\.?[A-Za-z_][A-Za-z0-9_-]*(\[\d+\])*(\.[A-Za-z_][A-Za-z0-9_-]*(\[\d+\])*)*$"


class PointType(StrEnum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STRING = "string"


class Point(StrictModel):
    """One value the device reports."""

    name: Identifier = Field(description="Point name, unique in the profile.")
    path: str = Field(pattern=JSON_PATH, description="Where the value sits in the JSON payload, e.g. state.smoke.")
    type: PointType = Field(description="Type the value must have; anything else is bad quality.")
    role: Identifier | None = Field(default=None, description="Semantic role rules refer to (smoke, tamper...).")
    unit: str | None = Field(default=None, description="Unit of the value after scaling, e.g. %, degC, A.")
    scale: float = Field(default=1.0, description="value = raw * scale + offset (numbers only).")
    offset: float = 0.0
    min: float | None = Field(default=None, description="Values below are out of range: bad quality.")
    max: float | None = Field(default=None, description="Values above are out of range: bad quality.")


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


class Liveness(StrictModel):
    """How often the device must be heard from; silence longer than `offline_after_s` is an event."""

    heartbeat_interval_s: float = Field(gt=0, description="Period of the device's heartbeat.")
    offline_after_s: float = Field(gt=0, description="Silence that makes the device offline.")

    @model_validator(mode="after")
    def _after_interval(self) -> Liveness:
        if self.offline_after_s < self.heartbeat_interval_s:
            raise ValueError("offline_after_s must be at least heartbeat_interval_s")
        return self


class Profile(StrictModel):
    id: Identifier = Field(description="Profile id the inventory refers to.")
    vendor: str
    model: str
    description: str = ""
    transport: MqttTransport
    timestamp: Timestamp | None = Field(default=None, description="Device time; absent: time of receipt.")
    liveness: Liveness | None = None
    points: list[Point] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_points(self) -> Profile:
        seen: set[str] = set()
        for p in self.points:
            if p.name in seen:
                raise ValueError(f"point name {p.name!r} appears twice")
            seen.add(p.name)
            if p.type in (PointType.BOOL, PointType.STRING) and (p.scale != 1.0 or p.offset != 0.0):
                raise ValueError(f"point {p.name!r}: scale/offset apply to numbers only")
            if p.min is not None and p.max is not None and p.min > p.max:
                raise ValueError(f"point {p.name!r}: min is above max")
        return self


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
