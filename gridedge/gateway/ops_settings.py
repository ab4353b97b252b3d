"""Config sections for operating a gateway: the local API and the telemetry sink.

Secrets (the API token, the InfluxDB token) are `SecretStr`, so they print as `**********` in logs,
reprs and validation errors. Each may come from the file itself, from `<field>_file` (a path, e.g.
one of systemd's `LoadCredential=` files) or from an environment variable; the file wins over the
variable, the value in the config file wins over both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, HttpUrl, SecretStr, model_validator

from gridedge.edge.config import StrictModel

API_TOKEN_ENV = "GRIDEDGE_API_TOKEN"  # noqa: S105 - a variable name, not a secret
INFLUX_TOKEN_ENV = "GRIDEDGE_INFLUX_TOKEN"  # noqa: S105 - a variable name, not a secret


def fill_secret(data: Any, field: str, env: str) -> Any:
    """Before-validation: take `field` from `<field>_file` or the environment when the file leaves it out."""
    if not isinstance(data, dict) or data.get(field) is not None:
        return data
    source = data.get(f"{field}_file")
    if source is not None:
        try:
            return {**data, field: Path(source).read_text(encoding="utf-8").strip()}
        except OSError as exc:
            raise ValueError(f"{field}_file {source}: cannot read: {exc.strerror}") from None
    if os.environ.get(env):
        return {**data, field: os.environ[env]}
    return data


class ApiConfig(StrictModel):
    """The local HTTP API and installer page."""

    enabled: bool = Field(default=True, description="Serve the local API, installer page and /metrics.")
    host: str = Field(
        default="127.0.0.1", description="Address to bind; loopback by default, so only the box itself can reach it."
    )
    port: int = Field(default=8780, ge=1, le=65535, description="TCP port of the local API.")
    token: SecretStr | None = Field(
        default=None,
        description=f"Bearer token every API call must carry; also from token_file or ${API_TOKEN_ENV}. "
        "When none is given the agent makes one and writes it to <state_dir>/api-token (mode 0600).",
    )
    token_file: Path | None = Field(default=None, description="File holding the token (first line).")

    @model_validator(mode="before")
    @classmethod
    def _token_sources(cls, data: Any) -> Any:
        return fill_secret(data, "token", API_TOKEN_ENV)


class TelemetryConfig(StrictModel):
    """Readings to an InfluxDB v2 write API (InfluxDB, VictoriaMetrics...). Never on the alarm path."""

    url: HttpUrl = Field(description="Base URL of the InfluxDB v2 API, e.g. http://127.0.0.1:8086.")
    org: str = Field(default="gridedge", description="InfluxDB organisation.")
    bucket: str = Field(default="gridedge", description="InfluxDB bucket.")
    token: SecretStr | None = Field(
        default=None, description=f"InfluxDB API token; also from token_file or ${INFLUX_TOKEN_ENV}."
    )
    token_file: Path | None = Field(default=None, description="File holding the InfluxDB token.")
    measurement: str = Field(default="reading", description="Measurement name of every point.")
    min_interval_s: float = Field(
        default=0.0, ge=0, description="Downsampling: at most one point per device and point in this interval."
    )
    min_interval_by_point: dict[str, float] = Field(
        default_factory=dict, description="Per point name (or role) overrides of min_interval_s."
    )
    buffer: int = Field(
        default=100_000, ge=100, description="Points kept while the server is slow or down; the oldest go first."
    )
    batch: int = Field(default=5_000, ge=1, description="Points per write request.")
    flush_interval_s: float = Field(default=1.0, gt=0, description="Longest a point waits before it is sent.")
    timeout_s: float = Field(default=5.0, gt=0, description="HTTP timeout of one write.")

    @model_validator(mode="before")
    @classmethod
    def _token_sources(cls, data: Any) -> Any:
        return fill_secret(data, "token", INFLUX_TOKEN_ENV)
