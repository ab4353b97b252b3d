"""Modbus buses and where a device sits on one. A bus is one TCP endpoint or one serial line: the
driver keeps one serialized queue per bus, because a serial line carries one request at a time and a
TCP-to-RS-485 gateway behind an endpoint usually does too."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gridedge.edge.config import StrictModel

BusName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class ModbusTcpBus(StrictModel):
    type: Literal["tcp"] = "tcp"
    name: BusName = Field(description="Name the inventory's devices refer to.")
    host: str = Field(description="Host of the device or of the TCP-to-RS-485 gateway.")
    port: int = Field(default=502, ge=1, le=65535)
    connect_timeout_s: float = Field(default=3.0, gt=0, description="Time allowed to open the connection.")


class ModbusRtuBus(StrictModel):
    type: Literal["rtu"]
    name: BusName = Field(description="Name the inventory's devices refer to.")
    port: str = Field(description="Serial device, e.g. /dev/ttyUSB0.")
    baudrate: int = Field(default=9600, ge=300, le=921_600)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


ModbusBus = Annotated[ModbusTcpBus | ModbusRtuBus, Field(discriminator="type")]


class ModbusAddress(StrictModel):
    """Where one Modbus device answers, and how patiently it is asked."""

    bus: BusName = Field(description="Name of the bus in the gateway's `southbound.modbus`.")
    unit: int = Field(default=1, ge=0, le=247, description="Modbus unit (slave) id.")
    poll_interval_s: float | None = Field(default=None, gt=0, description="Overrides the profile's poll interval.")
    timeout_s: float = Field(default=0.5, gt=0, le=30, description="Wait for one answer; then retry or give up.")
    retries: int = Field(default=1, ge=0, le=5, description="Retries of one read before the device is unavailable.")
