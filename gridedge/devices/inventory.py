"""The device inventory: which physical device, with which profile, where it is and who owns the place."""

from __future__ import annotations

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
