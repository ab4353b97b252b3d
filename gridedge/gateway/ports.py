"""The gateway's narrow interfaces: what the local API, the metrics and the downlink may see and do.

The agent (gateway/agent.py) wires three services and hands each consumer only the port it needs:
- `ReadModel`: what the API, /metrics and status read (never changes anything);
- `ControlPort`: what an installer (local API) or the centre (downlink commands) may change:
  reloads, silences, a rule pack pushed in memory;
- `CameraPort`: the cameras' latest frames and counters.
The pipeline (gateway/pipeline.py: drivers -> rules -> outbox) implements `ControlPort` and feeds
`ReadModel` (gateway/readmodel.py). Consumers import this module, never gateway/agent.py
(import-linter: "gateway consumers depend on ports, not on the agent").

A new figure for /metrics goes in `ReadModel` (Modbus counters: `driver_counters`); a new installer
action goes in `ControlPort`; a new camera action goes in `CameraPort`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gridedge.cloud_bridge.uplink import UplinkState
from gridedge.cloud_bridge.writer import StorageCondition
from gridedge.devices.sample import SampleResult
from gridedge.gateway.state import LocalState
from gridedge.rules.hygiene import ActiveSilence
from gridedge.rules.model import RulePack, Silence
from gridedge.vision.worker import CameraStats


class OutboxStatus(Protocol):
    """The outbox as the read side sees it (cloud_bridge.outbox.Outbox). Each call asks its database:
    call from a worker thread when on the event loop."""

    def depth(self) -> int: ...

    def oldest_age(self) -> float: ...


class UplinkStatus(Protocol):
    """The uplink's state and counters (cloud_bridge.uplink.Uplink)."""

    @property
    def state(self) -> UplinkState: ...

    @property
    def published(self) -> int: ...

    @property
    def reconnects(self) -> int: ...

    @property
    def refused(self) -> int:
        """Publications the broker refused (MQTT 5), set aside in the outbox."""
        ...

    @property
    def last_error(self) -> str | None: ...

    def command_refusals(self) -> Mapping[str, int]:
        """Downlink commands refused, per reason."""
        ...


class CameraPort(Protocol):
    """The configured cameras (gateway/cameras.py CameraFeed)."""

    def ids(self) -> list[str]: ...

    def frame(self, camera_id: str) -> bytes | None:
        """The latest preview (JPEG, zones drawn), None before the first."""
        ...

    def stats(self) -> dict[str, CameraStats]: ...

    def capture_reference(self, camera_id: str) -> bool:
        """Take the camera's next frame as its empty-scene reference; False for an unknown camera."""
        ...


class ReadModel(Protocol):
    """What the local API, /metrics and status read. Implemented by gateway/readmodel.py."""

    @property
    def gateway_id(self) -> str: ...

    @property
    def state(self) -> LocalState:
        """Devices, last values, recent events and the live stream (gateway/state.py)."""
        ...

    @property
    def outbox(self) -> OutboxStatus: ...

    @property
    def uplink(self) -> UplinkStatus: ...

    @property
    def cameras(self) -> CameraPort: ...

    def southbound_connected(self) -> bool: ...

    def driver_counters(self) -> dict[str, Mapping[str, int]]:
        """Per southbound driver ("mqtt", ...): messages, readings and `rejected_<reason>` counts."""
        ...

    def modbus_counters(self) -> dict[str, tuple[dict[str, int], dict[str, dict[str, int]]]]:
        """Per Modbus bus: (the bus's counts, each device's counts): polls, requests, timeouts, exceptions..."""
        ...

    def pipeline_counters(self) -> Mapping[str, int]:
        """The pipeline's own counts: readings handed to the rules, events, reloads, acks."""
        ...

    def held_incidents(self) -> Mapping[str, int]:
        """Open incidents officers do not see now, by why: silenced, inhibited, flood."""
        ...

    def silences(self) -> list[ActiveSilence]: ...

    def storage(self) -> StorageCondition:
        """Whether events reach the disk; while not, they wait in memory."""
        ...

    def try_sample(self, device_id: str, sample: bytes) -> SampleResult | None:
        """`sample` decoded with the device's profile, as `gridedge profile test` does (None: no such
        device); ValueError when a register dump is not one."""
        ...


class ControlPort(Protocol):
    """What an installer or the centre may change while the agent runs. Implemented by the pipeline."""

    async def write_point(self, device_id: str, point: str, value: object) -> object:
        """Set a Modbus point its profile marks writable and read it back; returns the value read back.
        Raises WriteRefused (not allowed, wrong value) or WriteFailedError (the device did not take it)."""
        ...

    async def reload_rules(self) -> bool:
        """Load the configured rule packs again; False (logged, counted) when refused."""
        ...

    async def reload_devices(self) -> bool:
        """Apply changed profiles or inventory; False (logged, counted) when refused."""
        ...

    async def replace_rules(self, pack: RulePack) -> None:
        """Swap the rules in memory (until a restart); resolutions of removed rules go out as events.
        ValueError when the pack does not compile."""
        ...

    async def silence(self, silence: Silence) -> ActiveSilence:
        """Set an operator's silence, durable when this returns; SilenceRefusedError (a ValueError) names
        why one is refused (no author or reason, over, longer than the gateway's maximum)."""
        ...

    async def expire_silence(self, silence_id: str) -> None:
        """End an operator's silence now; LookupError when there is none such, SilenceRefusedError for a
        rule pack's own."""
        ...

    def silences(self) -> list[ActiveSilence]: ...

    def count(self, name: str, n: int = 1) -> None:
        """Add to one of the pipeline's counters (`pipeline_counters`)."""
        ...
