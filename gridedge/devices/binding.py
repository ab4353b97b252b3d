"""A device bound to its compiled profile: what a driver needs to decode that device's messages."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from gridedge.devices.decode import CompiledProfile, compile_profile
from gridedge.devices.inventory import DeviceEntry, DeviceLines, Inventory
from gridedge.devices.profile import Liveness, MqttTransport, Profile
from gridedge.devices.registers import ModbusPlan, plan_reads
from gridedge.edge.errors import ConfigError


@dataclass(frozen=True, slots=True)
class DeviceBinding:
    device: DeviceEntry
    compiled: CompiledProfile | ModbusPlan

    @property
    def liveness(self) -> Liveness | None:
        return self.device.liveness or self.compiled.profile.liveness


def compile_any(profile: Profile) -> CompiledProfile | ModbusPlan:
    return compile_profile(profile) if isinstance(profile.transport, MqttTransport) else plan_reads(profile)


def bind(
    inventory: Inventory,
    profiles: dict[str, Profile],
    inventory_path: str,
    buses: frozenset[str] = frozenset(),
    under: tuple[str, ...] = (),
) -> list[DeviceBinding]:
    """Bind every device to its profile; an unknown profile or bus, a Modbus device without an address, or
    an MQTT device with one, is a config error naming the device, and its line when `inventory_path` is
    the file it is written in (`under` the keys that hold its `devices`, as `inventory` in a gateway config)."""
    compiled = {pid: compile_any(p) for pid, p in profiles.items()}
    path = Path(inventory_path)
    lines = DeviceLines(path if path.is_file() else None, under)
    problems = []
    for i, d in enumerate(inventory.devices):
        plan = compiled.get(d.profile)
        if plan is None:
            close = difflib.get_close_matches(d.profile, profiles, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {sorted(profiles)}"
            problems.append(
                f"{lines.at(d.id, i, 'profile')}: unknown profile {d.profile!r} for device {d.id!r}; {hint}"
            )
        elif isinstance(plan, ModbusPlan) and d.modbus is None:
            problems.append(
                f"{lines.at(d.id, i, 'modbus')}: device {d.id!r} has a Modbus profile but no `modbus` address"
            )
        elif isinstance(plan, ModbusPlan) and d.modbus is not None and d.modbus.bus not in buses:
            problems.append(
                f"{lines.at(d.id, i, 'modbus', 'bus')}: unknown bus {d.modbus.bus!r} "
                f"for device {d.id!r}; known: {sorted(buses)}"
            )
        elif not isinstance(plan, ModbusPlan) and d.modbus is not None:
            problems.append(
                f"{lines.at(d.id, i, 'modbus')}: device {d.id!r} has an MQTT profile "
                f"({d.profile}): a Modbus address means the wrong profile"
            )
    if problems:
        raise ConfigError(inventory_path, problems)
    return [DeviceBinding(d, compiled[d.profile]) for d in inventory.devices]
