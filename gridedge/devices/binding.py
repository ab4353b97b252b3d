"""A device bound to its compiled profile: what a driver needs to decode that device's messages."""

from __future__ import annotations

from dataclasses import dataclass

from gridedge.devices.decode import CompiledProfile, compile_profile
from gridedge.devices.inventory import DeviceEntry, Inventory
from gridedge.devices.profile import Liveness, Profile
from gridedge.edge.errors import ConfigError


@dataclass(frozen=True, slots=True)
class DeviceBinding:
    device: DeviceEntry
    compiled: CompiledProfile

    @property
    def liveness(self) -> Liveness | None:
        return self.device.liveness or self.compiled.profile.liveness


def bind(inventory: Inventory, profiles: dict[str, Profile], inventory_path: str) -> list[DeviceBinding]:
    """Bind every device to its profile; a device naming an unknown profile is a config error."""
    compiled = {pid: compile_profile(p) for pid, p in profiles.items()}
    unknown = [
        f"1: devices.{i}.profile: unknown profile {d.profile!r} for device {d.id!r}; known: {sorted(profiles)}"
        for i, d in enumerate(inventory.devices)
        if d.profile not in compiled
    ]
    if unknown:
        raise ConfigError(inventory_path, unknown)
    return [DeviceBinding(d, compiled[d.profile]) for d in inventory.devices]
