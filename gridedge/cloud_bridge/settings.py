"""The uplink's section of the gateway config: broker, protocol, TLS, outbox bound, heartbeat, commands."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

__all__ = ["OutboxSettings", "TlsSettings", "UplinkSettings"]

from pydantic import Field

from gridedge.cloud_bridge.outbox import Bound
from gridedge.edge.broker import BrokerConfig, TlsSettings, tls_context
from gridedge.edge.config import StrictModel


class OutboxSettings(StrictModel):
    max_messages: int = Field(default=1_000_000, ge=1, description="Messages the outbox may hold.")
    max_bytes: int = Field(default=1 << 30, ge=1, description="Bytes (topic + payload) the outbox may hold.")

    def bound(self) -> Bound:
        return Bound(max_messages=self.max_messages, max_bytes=self.max_bytes)


class UplinkSettings(StrictModel):
    broker: BrokerConfig = Field(default_factory=BrokerConfig, description="The city's broker.")
    protocol: Literal["3.1.1", "5"] = Field(
        default="3.1.1", description="MQTT version; 5 reports refusals per message."
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
        return tls_context(self.broker, self.tls)

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
