"""The grid centre's config file: which broker, which part of the grid tree, where cases are kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gridedge.center.access import Role, check_jurisdiction
from gridedge.center.policy import Policy
from gridedge.edge.broker import BrokerConfig, TlsSettings
from gridedge.edge.config import StrictModel, load_yaml
from gridedge.edge.grid import Code


class HttpConfig(StrictModel):
    host: str = "127.0.0.1"
    """Address the officers' console and API listen on; 0.0.0.0 to serve the whole network."""
    port: int = Field(default=8080, ge=0, le=65535)
    """TCP port of the console and API; 0 picks a free one (the log names it)."""
    secure_cookies: bool = True
    """Send the login cookie over HTTPS only (serve the console behind a TLS proxy). Turn off only for
    plain HTTP on one machine, as the demo does."""


class ConsoleConfig(StrictModel):
    """How the officers' console shows things: local time, the grid map, photos, gateways."""

    time_zone: str = "Asia/Shanghai"
    """IANA zone every time on the console is shown in (the officers' wall clock, not the browser's)."""
    grid_map: Path | None = None
    """GeoJSON FeatureCollection of grid cells: each feature's `properties.grid` is its grid codes joined
    by '/' (D01/S01/C01/G01), `properties.name` optional. Drawn in the browser from this file alone: no
    tile server, no network."""
    photo_max_bytes: int = Field(default=5_000_000, gt=0, le=20_000_000)
    """Largest photo an officer may attach at a step; larger ones are refused with the limit named."""
    gateway_offline_case_s: float = Field(default=300.0, gt=0)
    """A gateway offline (last will or clean stop) longer than this raises a `device.offline` case."""

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Asia/Shanghai)") from None
        return v

    @field_validator("grid_map")
    @classmethod
    def _readable_map(cls, v: Path | None) -> Path | None:
        if v is not None:
            load_grid_map(v)
        return v


def load_grid_map(path: Path) -> dict[str, Any]:
    """The grid map's GeoJSON, checked enough that the console can draw it; ValueError names the problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"grid_map {path}: cannot read GeoJSON ({err})") from None
    if (
        not isinstance(data, dict)
        or data.get("type") != "FeatureCollection"
        or not isinstance(data.get("features"), list)
    ):
        raise ValueError(f"grid_map {path}: not a GeoJSON FeatureCollection")
    for i, feature in enumerate(data["features"]):
        grid = (feature.get("properties") or {}).get("grid") if isinstance(feature, dict) else None
        if not isinstance(grid, str) or not 1 <= len(grid.split("/")) <= 4:
            raise ValueError(f"grid_map {path}: feature {i} has no properties.grid like D01/S01/C01/G01")
    return data


class OfficerSeed(StrictModel):
    """An account created at start when missing (the first admin, or a demo's officers)."""

    username: Code
    name: str
    role: Role
    jurisdiction: tuple[Code, ...] = Field(default=(), max_length=4)
    """Grid codes of the node the officer owns: 4 for a grid officer, 3 community, 2 street, 1 district, 0 admin."""
    password: SecretStr = Field(min_length=8)

    @model_validator(mode="after")
    def _jurisdiction_fits_role(self) -> OfficerSeed:
        check_jurisdiction(self.role, self.jurisdiction)
        return self


class ApiToken(StrictModel):
    """A bearer token for an integration; it acts with the rights of `officer`."""

    officer: Code
    token: SecretStr = Field(min_length=24)
    label: str = "integration"


class CenterConfig(StrictModel):
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    """The MQTT broker the gateways publish to, as `mqtt://[user:password@]host:port` or a mapping."""
    tls: TlsSettings | None = None
    """TLS to the broker (CA, client certificate and key), the same settings as the gateway's uplink;
    TLS is on with these or an mqtts:// broker. Paths are relative to this file."""
    jurisdiction: tuple[Code, ...] = Field(default=(), max_length=4)
    """Grid codes from the top: [] is the whole city, [D01, S01] one street of district D01."""
    database: str = "sqlite:///var/center.db"
    """SQLAlchemy URL of the case store: SQLite for one machine, postgresql+psycopg://... for a city."""
    http: HttpConfig = Field(default_factory=HttpConfig)
    """Where the officers' console and JSON API listen."""
    client_id: Code = "gridedge-center"
    """MQTT client id; must be stable (the broker keeps this centre's queue under it) and unique per centre."""
    shared_group: Code | None = None
    """Replicas of one centre name the same group: they then subscribe as `$share/{group}/...` (Mosquitto 2
    shares to MQTT 3.1.1 clients), the broker gives each event to one of them, and each needs its own `client_id`."""
    policy: Policy = Field(default_factory=Policy)
    """Starting levels, time limits per step, units and dispatch rules."""
    escalation_check_s: float = Field(default=30.0, gt=0)
    """How often late cases are looked for and raised one level."""
    command_key_file: Path | None = None
    """The city's downlink command secret (hex): with it, verifying, rejecting or closing a case sends a
    signed `ack` command to the gateway that raised it."""
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    """Time zone, grid map, photo size limit and when an offline gateway becomes a case."""
    officers: list[OfficerSeed] = Field(default_factory=list)
    api_tokens: list[ApiToken] = Field(default_factory=list)

    @field_validator("database")
    @classmethod
    def _sqlalchemy_url(cls, v: str) -> str:
        try:
            make_url(v)
        except ArgumentError:
            raise ValueError(f"not an SQLAlchemy database URL: {v!r}") from None
        return v


DEMO_LOGIN = ("demo", "gridedge-demo")
"""The demo's one officer (an admin), printed with its URL: the demo's database is thrown away after."""


def demo_officer() -> OfficerSeed:
    username, password = DEMO_LOGIN
    return OfficerSeed(username=username, name="演示 Demo", role=Role.ADMIN, password=SecretStr(password))


def load_center_config(path: Path) -> CenterConfig:
    """Read the centre's YAML config; a mistake raises ConfigError naming the file, line and field."""
    config = load_yaml(path, CenterConfig)
    if config.tls is None:
        return config
    return config.model_copy(update={"tls": config.tls.resolved(path.parent)})
