"""Where an MQTT broker is: parsed once from a `mqtt://[user:password@]host:port` URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, model_validator

from gridedge.edge.config import StrictModel


class BrokerConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_url(cls, data: object) -> object:
        return parse_broker_url(data) if isinstance(data, str) else data

    def connect_args(self) -> dict[str, Any]:
        """Where and as whom to connect, as the MQTT clients (aiomqtt) take it."""
        return {
            "hostname": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password.get_secret_value() if self.password else None,
        }

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp") or not parts.hostname:
        raise ValueError(f"broker URL must look like mqtt://host:port, got {url!r}")
    data: dict[str, object] = {
        "host": parts.hostname,
        "port": parts.port or (8883 if parts.scheme == "mqtts" else 1883),
        "tls": parts.scheme == "mqtts",
    }
    if parts.username:
        data["username"] = unquote(parts.username)
    if parts.password:
        data["password"] = unquote(parts.password)
    return data
