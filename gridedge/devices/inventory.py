"""The device inventory: which physical device, with which profile, where it is and who owns the place."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, model_validator

from gridedge.devices.buses import ModbusAddress
from gridedge.devices.profile import Identifier, Liveness
from gridedge.edge.config import StrictModel
from gridedge.edge.grid import GridCell, Location


class DeviceEntry(StrictModel):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Device id, unique on this gateway.")
    profile: Identifier = Field(description="Id of the device's profile.")
    key: str | None = Field(
        default=None,
        pattern=r"^[^/+#]{1,128}$",
        description="What stands for `{key}` in the profile's topic (the vendor's device id); default: id.",
    )
    location: Location
    grid: GridCell | None = Field(default=None, description="Grid cell, when not the gateway's own.")
    liveness: Liveness | None = Field(default=None, description="Overrides the profile's liveness.")
    modbus: ModbusAddress | None = Field(default=None, description="Bus and unit id, for a Modbus profile.")

    @property
    def topic_key(self) -> str:
        return self.key or self.id


class Inventory(StrictModel):
    devices: list[DeviceEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Inventory:
        seen: set[str] = set()
        for d in self.devices:
            if d.id in seen:
                raise ValueError(f"device id {d.id!r} appears twice")
            seen.add(d.id)
        return self


class DeviceLines:
    """Where each device's fields are written in an inventory file, so an error found after validation
    (an unknown profile or bus) still names the line. Devices are found by id, so an inventory merged
    from the gateway config and a file of its own keeps each device's own file and line."""

    def __init__(self, path: Path | None, under: tuple[str, ...] = ()) -> None:
        self._devices: dict[str, yaml.Node] = {}
        self._index: dict[str, int] = {}
        self._under = under  # where `devices` sits in the file: () for an inventory file, ("inventory",) in a config
        try:
            root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader) if path else None
        except (OSError, yaml.YAMLError):
            root = None
        for key in under:
            root = _child(root, key)
        devices = _child(root, "devices")
        if isinstance(devices, yaml.SequenceNode):
            for i, item in enumerate(devices.value):
                ident = _child(item, "id")
                if isinstance(ident, yaml.ScalarNode):
                    self._devices[str(ident.value)] = item
                    self._index[str(ident.value)] = i

    def at(self, device_id: str, fallback: int, *field: str) -> str:
        """`LINE: devices.N.field`, N the device's place in this file (else `fallback`, its merged index)."""
        return f"{self.line(device_id, *field)}: " + ".".join(
            [*self._under, "devices", str(self._index.get(device_id, fallback)), *field]
        )

    def line(self, device_id: str, *field: str) -> int:
        """1-based line of the device's field (`modbus`, `bus`), or of the device, or 1 when unknown."""
        node = self._devices.get(device_id)
        if node is None:
            return 1
        line = int(node.start_mark.line)
        for name in field:
            key = _key(node, name)
            if key is None:
                break
            line, node = int(key.start_mark.line), _child(node, name)
        return line + 1


def _key(node: yaml.Node | None, name: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((k for k, _ in node.value if k.value == name), None)
    return None


def _child(node: yaml.Node | None, name: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == name), None)
    return None
