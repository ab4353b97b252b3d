"""The uplink's section of the gateway config: broker, protocol, TLS, outbox bound, heartbeat, commands."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from gridedge.cloud_bridge.outbox import Bound
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.config import StrictModel


class TlsSettings(StrictModel):
    ca_file: Path | None = Field(
        default=None, description="CA bundle that signed the broker's certificate; default: the system's."
    )
    cert_file: Path | None = Field(
        default=None, description="This gateway's client certificate (PEM), for brokers that require one."
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


class OutboxSettings(StrictModel):
    max_messages: int = Field(default=1_000_000, ge=1, description="Messages the outbox may hold.")
    max_bytes: int = Field(default=1 << 30, ge=1, description="Bytes (topic + payload) the outbox may hold.")

    def bound(self) -> Bound:
        return Bound(max_messages=self.max_messages, max_bytes=self.max_bytes)


class UplinkSettings(StrictModel):
    broker: BrokerConfig = Field(default_factory=BrokerConfig, description="The city's broker.")
    protocol: Literal["3.1.1", "5"] = Field(
        default="5",
        description="MQTT version. 5 (default) reports a refused publication, which is counted and kept "
        "in the outbox; under 3.1.1 a broker acknowledges and drops what its ACL refuses.",
    )
    tls: TlsSettings | None = Field(
        default=None, description="TLS settings; TLS is on with these or an mqtts:// broker."
    )
    outbox: OutboxSettings = Field(
        default_factory=OutboxSettings, description="Bound of the outbox; see docs/cloud-bridge.md."
    )
    heartbeat_s: float = Field(default=30.0, gt=0, description="How often the retained status repeats queue depth.")
    command_key_file: Path | None = Field(
        default=None,
        description="File with this gateway's downlink command key (hex); without it commands are not read.",
    )

    def tls_context(self) -> ssl.SSLContext | None:
        if self.tls is not None:
            return self.tls.context()
        return ssl.create_default_context() if self.broker.tls else None

    def command_key(self) -> bytes | None:
        if self.command_key_file is None:
            return None
        return bytes.fromhex(self.command_key_file.read_text().strip())

    def resolved(self, base: Path) -> UplinkSettings:
        """Paths in the file are relative to the file."""
        return self.model_copy(
            update={
                "tls": self.tls.resolved(base) if self.tls else None,
                "command_key_file": base / self.command_key_file if self.command_key_file else None,
            }
        )
