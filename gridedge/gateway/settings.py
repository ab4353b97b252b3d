"""The gateway's configuration file: identity, place, brokers, inventory and rules, in one typed model."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveInt, PrivateAttr

from gridedge.cloud_bridge.settings import UplinkSettings
from gridedge.devices.buses import ModbusBus
from gridedge.devices.inventory import Inventory
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.config import StrictModel, load_yaml
from gridedge.edge.grid import Code, GridCell, Location
from gridedge.gateway.ops_settings import ApiConfig, TelemetryConfig
from gridedge.rules.hygiene import DEFAULT_MAX_SILENCE_S
from gridedge.vision.config import CameraConfig


class Identity(StrictModel):
    id: Code = Field(description="Gateway id, unique in the city; part of every topic it publishes on.")
    grid: GridCell = Field(description="Grid cell the gateway serves; devices inherit it.")
    location: Location


Uplink = UplinkSettings
"""The `uplink:` section: broker, MQTT version, TLS, outbox bound, heartbeat, command key."""


class Southbound(StrictModel):
    mqtt: BrokerConfig = Field(
        default_factory=BrokerConfig, description="Broker where sensor bridges publish (often a local one)."
    )
    modbus: list[ModbusBus] = Field(
        default_factory=list, description="Modbus buses (TCP endpoints, serial lines) the inventory's devices sit on."
    )


class Runtime(StrictModel):
    """How the agent's Python process runs: deployment choices a benchmark found, not behaviour."""

    gc_freeze: bool = Field(
        default=True,
        description="Move everything made at start-up (profiles, rules, inventory) out of the garbage "
        "collector's scans: it lives as long as the process.",
    )
    gc_thresholds: tuple[PositiveInt, PositiveInt, PositiveInt] | None = Field(
        default=(20_000, 20, 20),
        description="Python's gc.set_threshold: collect the young generation every N allocations. Each "
        "device message makes about ten short-lived objects; at Python's default (700, 10, 10) the "
        "collector ran every 70 messages and cost a third of the ingest path (docs/performance.md). "
        "null keeps Python's default.",
    )
    shards: PositiveInt = Field(
        default=1,
        description="Worker processes that read the devices' broker, decode and decide (one MQTT session "
        "each, devices split by site so a site's correlation and each device's order hold); the main "
        "process keeps the outbox, the uplink, Modbus, cameras and the local API. 1: all in one process "
        "(small gateways). Set it to the cores the gateway may use (gateway/shards.py).",
    )


class GatewayConfig(StrictModel):
    gateway: Identity
    uplink: Uplink = Field(default_factory=Uplink)
    southbound: Southbound = Field(default_factory=Southbound)
    state_dir: Path = Field(default=Path("var/agent"), description="Outbox and state; relative to the config file.")
    profile_dirs: list[Path] = Field(default_factory=list, description="Profiles beside the built-in ones.")
    rule_packs: list[Path] | None = Field(default=None, description="Rule pack files; default: every built-in pack.")
    inventory: Inventory = Field(default_factory=Inventory)
    inventory_file: Path | None = Field(
        default=None, description="More devices in their own file, applied by the running agent when it changes."
    )
    api: ApiConfig = Field(default_factory=ApiConfig, description="Local API, installer page and /metrics.")
    telemetry: TelemetryConfig | None = Field(default=None, description="InfluxDB v2 telemetry; off when absent.")
    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras, each in its own process.")
    runtime: Runtime = Field(
        default_factory=Runtime, description="Process tuning (garbage collector, worker processes)."
    )
    max_silence_s: float = Field(
        default=DEFAULT_MAX_SILENCE_S,
        gt=0,
        description="Longest silence an operator may set (local API, downlink), seconds; longer ones are refused.",
    )
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> str:
        """The file this config was read from, for errors found after validation."""
        return str(self._source) if self._source is not None else "gateway config"

    def resolved(self, base: Path) -> GatewayConfig:
        """Paths in the file are relative to the file, not to wherever the agent was started."""
        return self.model_copy(
            update={
                "state_dir": base / self.state_dir,
                "uplink": self.uplink.resolved(base),
                "profile_dirs": [base / p for p in self.profile_dirs],
                "inventory_file": base / self.inventory_file if self.inventory_file is not None else None,
                "rule_packs": [base / p for p in self.rule_packs] if self.rule_packs is not None else None,
            }
        )


def load_gateway_config(path: Path) -> GatewayConfig:
    config = load_yaml(path, GatewayConfig).resolved(path.parent)
    config._source = path
    return config
