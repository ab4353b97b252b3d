"""Where an MQTT broker is (parsed once from a `mqtt://[user:password@]host:port` URL) and how to
reach it over TLS: the gateway's uplink and the centre's ingest and downlink take the same settings."""

from __future__ import annotations

import ssl
from pathlib import Path
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


class TlsSettings(StrictModel):
    ca_file: Path | None = Field(
        default=None, description="CA bundle that signed the broker's certificate; default: the system's."
    )
    cert_file: Path | None = Field(
        default=None, description="This client's certificate (PEM), for brokers that require one."
    )
    key_file: Path | None = Field(default=None, description="Private key of `cert_file` (PEM).")

    @model_validator(mode="after")
    def _cert_with_key(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file come together")
        return self

    def context(self) -> ssl.SSLContext:
        """Verifies the broker's certificate and host name (TLS 1.2 or newer); never turned off."""
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file is not None:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def resolved(self, base: Path) -> TlsSettings:
        return self.model_copy(
            update={
                k: base / v
                for k, v in (("ca_file", self.ca_file), ("cert_file", self.cert_file), ("key_file", self.key_file))
                if v
            }
        )


def tls_context(broker: BrokerConfig, tls: TlsSettings | None) -> ssl.SSLContext | None:
    """TLS with `tls` when given, with the system's CAs for an mqtts:// broker, else none."""
    if tls is not None:
        return tls.context()
    return ssl.create_default_context() if broker.tls else None
