"""The grid centre's config file: which broker, which part of the grid tree, where cases are kept."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gridedge.edge.broker import BrokerConfig
from gridedge.edge.config import StrictModel, load_yaml
from gridedge.edge.grid import Code


class HttpConfig(StrictModel):
    host: str = "127.0.0.1"
    """Address the officers' console and API listen on; 0.0.0.0 to serve the whole network."""
    port: int = Field(default=8080, ge=0, le=65535)
    """TCP port of the console and API; 0 picks a free one (the log names it)."""


class CenterConfig(StrictModel):
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    """The MQTT broker the gateways publish to, as `mqtt://[user:password@]host:port` or a mapping."""
    jurisdiction: tuple[Code, ...] = Field(default=(), max_length=4)
    """Grid codes from the top: [] is the whole city, [D01, S01] one street of district D01."""
    database: str = "sqlite:///var/center.db"
    """SQLAlchemy URL of the case store: SQLite for one machine, postgresql+psycopg://... for a city."""
    http: HttpConfig = Field(default_factory=HttpConfig)
    """Where the officers' console and JSON API listen."""
    client_id: Code = "gridedge-center"
    """MQTT client id; must be stable (the broker keeps this centre's queue under it) and unique per centre."""

    @field_validator("database")
    @classmethod
    def _sqlalchemy_url(cls, v: str) -> str:
        try:
            make_url(v)
        except ArgumentError:
            raise ValueError(f"not an SQLAlchemy database URL: {v!r}") from None
        return v


def load_center_config(path: Path) -> CenterConfig:
    """Read the centre's YAML config; a mistake raises ConfigError naming the file, line and field."""
    return load_yaml(path, CenterConfig)
