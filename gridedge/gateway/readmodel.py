"""The read model (gateway/ports.py `ReadModel`): one object that answers what the local API,
/metrics and status ask, from the parts that already keep the figures. It holds no state of its own."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from gridedge.cloud_bridge.writer import StorageCondition
from gridedge.devices.sample import SampleResult, try_sample
from gridedge.gateway.pipeline import Pipeline
from gridedge.gateway.ports import CameraPort, OutboxStatus, UplinkStatus
from gridedge.gateway.state import LocalState
from gridedge.rules.hygiene import ActiveSilence


@dataclass(frozen=True)
class GatewayReadModel:
    gateway_id: str
    state: LocalState
    outbox: OutboxStatus
    uplink: UplinkStatus
    cameras: CameraPort
    pipeline: Pipeline

    def southbound_connected(self) -> bool:
        return self.pipeline.southbound_connected()

    def driver_counters(self) -> dict[str, Mapping[str, int]]:
        return self.pipeline.driver_counters()

    def modbus_counters(self) -> dict[str, tuple[dict[str, int], dict[str, dict[str, int]]]]:
        return self.pipeline.modbus_counters()

    def pipeline_counters(self) -> Mapping[str, int]:
        return self.pipeline.all_counters()

    def held_incidents(self) -> Mapping[str, int]:
        return self.pipeline.held_incidents()

    def silences(self) -> list[ActiveSilence]:
        return self.pipeline.silences()

    def storage(self) -> StorageCondition:
        return self.pipeline.storage()

    def try_sample(self, device_id: str, sample: bytes) -> SampleResult | None:
        profile = self.pipeline.profile_of(device_id)
        return None if profile is None else try_sample(profile, sample, time.time())
