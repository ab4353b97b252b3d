"""Byte layouts: where a number sits in a binary payload (a LoRaWAN frame, a raw MQTT payload, a hex
field), as the vendor's payload table gives it: offset, width, signedness and byte order."""

from __future__ import annotations

import base64
import binascii
import struct
from enum import StrEnum
from typing import Literal

from pydantic import Field

from gridedge.edge.config import StrictModel

MAX_BINARY_BYTES = 4096  # far above a LoRaWAN frame (242 bytes) or an NB-IoT report


class ByteType(StrEnum):
    INT8 = "int8"
    UINT8 = "uint8"
    INT16 = "int16"
    UINT16 = "uint16"
    INT24 = "int24"
    UINT24 = "uint24"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    @property
    def width(self) -> int:
        return int(self.value.removeprefix("u").removeprefix("int").removeprefix("float")) // 8

    @property
    def signed(self) -> bool:
        return self.value.startswith("int")

    @property
    def is_float(self) -> bool:
        return self.value.startswith("float")


class ByteField(StrictModel):
    """A number inside a binary payload."""

    offset: int = Field(ge=0, lt=MAX_BINARY_BYTES, description="First byte, 0-based, as in the vendor's table.")
    type: ByteType = Field(default=ByteType.UINT8, description="Width and signedness: int8 ... uint64, float32/64.")
    order: Literal["big", "little"] = Field(default="big", description="Byte order; LoRaWAN vendors mostly use big.")

    @property
    def end(self) -> int:
        return self.offset + self.type.width


class BinarySource(StrictModel):
    """Where a profile's binary payload comes from."""

    path: str | None = Field(
        default=None,
        description="JSON field holding the bytes (e.g. `data`); absent: the whole MQTT payload is the bytes.",
    )
    encoding: Literal["base64", "hex"] = Field(default="base64", description="How that JSON field writes bytes.")


FieldReader = tuple[int, int, struct.Struct | None, bool, Literal["big", "little"]]


def field_reader(field: ByteField) -> FieldReader:
    """What `read_field` needs, computed once per point: (offset, end, float format, signed, order)."""
    t = field.type
    fmt = None
    if t.is_float:
        fmt = struct.Struct(("<" if field.order == "little" else ">") + ("f" if t.width == 4 else "d"))
    return field.offset, field.end, fmt, t.signed, field.order


def read_field(data: bytes, reader: FieldReader) -> int | float:
    """The number at the reader's bytes; the caller has checked that the payload is long enough."""
    offset, end, fmt, signed, order = reader
    if fmt is not None:
        value: float = fmt.unpack_from(data, offset)[0]
        return value
    return int.from_bytes(data[offset:end], order, signed=signed)


def decode_blob(raw: object, encoding: str) -> tuple[bytes | None, str | None]:
    """The bytes a JSON field holds, or (None, why)."""
    if not isinstance(raw, str):
        return None, f"expected {encoding} text, got {type(raw).__name__}"
    if len(raw) > 2 * MAX_BINARY_BYTES:
        return None, f"{len(raw)} characters of {encoding}: larger than any device frame"
    try:
        data = base64.b64decode(raw, validate=True) if encoding == "base64" else bytes.fromhex(raw)
    except (binascii.Error, ValueError):
        return None, f"not {encoding}: {raw!r:.40}"
    return data, None
