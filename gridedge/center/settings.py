"""The grid centre's config file: which broker, which part of the grid tree, where cases are kept."""

from __future__ import annotations

from pathlib import Path

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
    """Replicas of one centre name the same group: they then subscribe with MQTT 5 as
    `$share/{group}/...`, the broker gives each event to one of them, and each needs its own `client_id`."""
    policy: Policy = Field(default_factory=Policy)
    """Starting levels, time limits per step, units and dispatch rules."""
    escalation_check_s: float = Field(default=30.0, gt=0)
    """How often late cases are looked for and raised one level."""
    command_key_file: Path | None = None
    """The city's downlink command secret (hex): with it, verifying, rejecting or closing a case sends a
    signed `ack` command to the gateway that raised it."""
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
