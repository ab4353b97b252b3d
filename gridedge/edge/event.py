"""The grid event, contract v1: what every gateway publishes and any city platform can consume.

One incident has one stable `event_id`; each change publishes a new revision with a higher `seq`.
Consumers are idempotent on (event_id, seq). The JSON Schema in `schemas/grid-event-v1.json` is
generated from this model and a test keeps the two equal.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, Field, field_validator

from gridedge.edge.categories import CategoryCode
from gridedge.edge.config import StrictModel
from gridedge.edge.grid import Code, GridCell, Level, Location

SCHEMA_ID: Final = "gridedge.event/1"
MAX_EVIDENCE_READINGS = 20


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    INFO = "info"


class EventStatus(StrEnum):
    FIRING = "firing"
    UPDATE = "update"
    RESOLVED = "resolved"


class Source(StrictModel):
    gateway_id: Code
    device_id: str | None = None
    camera_id: str | None = None
    profile: str | None = None
    rule_id: str | None = None
    zone: str | None = None


class EvidenceReading(StrictModel):
    device_id: str
    point: str
    value: bool | int | float | str | None
    unit: str | None = None
    ts: AwareDatetime
    quality: Literal["good", "bad", "unavailable"] = "good"


class Snapshot(StrictModel):
    """An annotated JPEG published on the evidence topic and referenced here by its hash."""

    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    content_type: Literal["image/jpeg"] = "image/jpeg"
    size: int = Field(ge=1, le=2_000_000)
    width: int | None = None
    height: int | None = None


class Evidence(StrictModel):
    readings: list[EvidenceReading] = Field(default_factory=list, max_length=MAX_EVIDENCE_READINGS)
    snapshot: Snapshot | None = None


class GridEvent(StrictModel):
    """One revision of one incident, as published on `gridedge/v1/events/...`."""

    schema_: Literal["gridedge.event/1"] = Field(default=SCHEMA_ID, alias="schema")
    event_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    seq: int = Field(ge=1, description="Revision number; higher wins.")
    status: EventStatus
    dedup_key: str = Field(min_length=1, max_length=256)

    category: CategoryCode
    national_code: str | None = None
    severity: Severity
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)

    grid: GridCell
    location: Location
    source: Source

    started_at: AwareDatetime
    observed_at: AwareDatetime
    ended_at: AwareDatetime | None = None

    evidence: Evidence = Field(default_factory=Evidence)
    suggested_level: Level = Level.GRID

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @field_validator("started_at", "observed_at", "ended_at")
    @classmethod
    def _utc(cls, v: Any) -> Any:
        if v is not None and v.utcoffset().total_seconds() != 0:
            raise ValueError("timestamps are UTC")
        return v

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()

    @classmethod
    def from_json(cls, payload: bytes | str) -> GridEvent:
        return cls.model_validate_json(payload)


def json_schema() -> str:
    """The published JSON Schema of the grid event, as committed under schemas/."""
    schema = GridEvent.model_json_schema(by_alias=True)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://gridedge.example/schemas/grid-event-v1.json",
        **schema,
    }
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
