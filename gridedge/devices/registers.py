"""Pure Modbus decoding: a profile's registers planned into as few reads as the protocol allows,
and the words that come back turned into Readings.

No I/O here: the driver executes the plan's reads and hands the answers to `decode_registers`.
A read the device refused (a Modbus exception) makes its points bad quality and names the reason;
the points of the other reads still decode.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import cast

from gridedge.devices.decode import ComputedPoint, Converter, Decoded, Out, aliases, compute, computed_points, converter
from gridedge.devices.profile import (
    MAX_BITS_PER_READ,
    MAX_REGISTERS_PER_READ,
    DataType,
    ModbusTransport,
    Point,
    PointType,
    Profile,
    Register,
    Table,
)
from gridedge.edge.reading import Quality, Reading

Word = int | bool | None  # None: a register the answer (or a register dump) did not contain
NOT_IN_ANSWER = "no value in the answer"


@dataclass(frozen=True, slots=True)
class Read:
    """One request on the wire: `count` registers (or bits) of `table` from `address`."""

    table: Table
    address: int
    count: int


@dataclass(frozen=True, slots=True)
class Slot:
    """Where one point's words sit in the answers."""

    point: Point
    register: Register
    read: int  # index into the plan's reads
    offset: int  # from the read's first register
    words: int
    bit_table: bool
    plain: bool  # a whole uint16, byte order big: decoded without `register_value`
    convert: Converter  # `convert`, or with a value map first
    fast: Fast | None = None  # the value from a clean answer, or DECLINED; None: always the careful path
    name: str = ""  # the point's, copied: read once per point per poll
    unit: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class ModbusPlan:
    profile: Profile
    transport: ModbusTransport
    reads: tuple[Read, ...]
    slots: tuple[Slot, ...]
    computed: tuple[ComputedPoint, ...] = ()  # points computed from the registers' points
    names: dict[str, str] | None = None  # point name -> expression name, for what they read


class _Declined:
    """A fast path's "not mine": the careful path decodes the point and says what is wrong."""

    __slots__ = ()


DECLINED = _Declined()
Fast = Callable[[Sequence[int]], "int | float | bool | str | _Declined"]


class ReadFailed(str):
    """The answer to a read was an error (e.g. a Modbus exception response); the text says which."""

    __slots__ = ()


Answer = Sequence[Word] | ReadFailed


def plan_reads(profile: Profile) -> ModbusPlan:
    """Group points by table into contiguous reads, joining across gaps up to `max_gap` unused registers,
    never past the protocol's limit per request and never splitting a point across two reads."""
    transport = profile.transport
    if not isinstance(transport, ModbusTransport):
        raise TypeError(f"profile {profile.id!r} is not a Modbus profile")
    effective = profile.all_points()
    points = sorted(
        ((p, p.modbus) for p in effective if p.modbus is not None),
        key=lambda pr: (list(Table).index(pr[1].table), pr[1].address),
    )
    reads: list[Read] = []
    slots: list[Slot] = []
    for point, reg in points:
        limit = MAX_BITS_PER_READ if reg.table.holds_bits else MAX_REGISTERS_PER_READ
        last = reads[-1] if reads else None
        end = reg.address + reg.words
        if (
            last is not None
            and last.table is reg.table
            and reg.address - (last.address + last.count) <= transport.max_gap
            and end - last.address <= limit
        ):
            reads[-1] = Read(last.table, last.address, max(last.count, end - last.address))
        else:
            reads.append(Read(reg.table, reg.address, reg.words))
        plain = reg.data_type is DataType.UINT16 and reg.bit is None and reg.byte_order == "big"
        at = reg.address - reads[-1].address
        fast = fast_path(point, reg, at)
        index, bits = len(reads) - 1, reg.table.holds_bits
        slots.append(
            Slot(
                point,
                reg,
                index,
                at,
                reg.words,
                bits,
                plain,
                converter(point),
                fast,
                point.name,
                point.unit,
                point.role,
            )
        )
    computed = computed_points(effective)
    return ModbusPlan(
        profile, transport, tuple(reads), tuple(slots), computed, aliases(effective) if computed else None
    )


_FLOAT = struct.Struct(">f")
_DOUBLE = struct.Struct(">d")
_SIGN = {DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}


def register_value(words: Sequence[int], reg: Register) -> int | float:
    """The number that 16-bit `words` (as read, first address first) hold, per the register's orders."""
    if reg.byte_order == "little":
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    if reg.word_order == "little":
        words = words[::-1]
    raw = 0
    for w in words:
        raw = (raw << 16) | w
    if reg.bit is not None:
        return (raw >> reg.bit) & ((1 << reg.bits) - 1)
    kind = reg.data_type
    if kind in _SIGN:
        width = _SIGN[kind]
        return raw - (1 << width) if raw >> (width - 1) else raw
    if kind is DataType.FLOAT32:
        value: float = _FLOAT.unpack(raw.to_bytes(4, "big"))[0]
        return value
    if kind is DataType.FLOAT64:
        double: float = _DOUBLE.unpack(raw.to_bytes(8, "big"))[0]
        return double
    return raw


_WIDEST = sys.float_info.max  # a range check against it also refuses inf and nan, as `convert` does
_FLOATS = {DataType.FLOAT32: (struct.Struct(">HH"), _FLOAT), DataType.FLOAT64: (struct.Struct(">HHHH"), _DOUBLE)}


def _integer_of(reg: Register, at: int) -> Callable[[Sequence[int]], int] | None:
    """The integer a register holds, taken straight from a clean answer, for the layouts devices use most
    (one or two big-endian words); None for the rest, which `register_value` decodes."""
    big = reg.byte_order == "big" and (reg.words == 1 or reg.word_order == "big")
    if reg.data_type in _FLOATS or reg.words > 2 or not big:
        return None
    nxt = at + 1
    if reg.bit is not None:
        bit, mask = reg.bit, (1 << reg.bits) - 1
        if reg.words == 1:
            return lambda a: a[at] >> bit & mask
        return lambda a: (a[at] << 16 | a[nxt]) >> bit & mask
    if reg.data_type is DataType.INT16:
        return lambda a: (r - 0x1_0000) if (r := a[at]) & 0x8000 else r
    if reg.data_type is DataType.INT32:
        return lambda a: (r - 0x1_0000_0000) if (r := a[at] << 16 | a[nxt]) & 0x8000_0000 else r
    return (lambda a: a[at]) if reg.words == 1 else (lambda a: a[at] << 16 | a[nxt])


def _float_of(reg: Register, at: int) -> Callable[[Sequence[int]], float] | None:
    """A float32 or float64 in big-endian words, from a clean answer; None for other layouts."""
    if reg.data_type not in _FLOATS or reg.byte_order != "big" or reg.word_order != "big":
        return None
    words, number = _FLOATS[reg.data_type]
    end = at + reg.words
    return lambda a: float(number.unpack(words.pack(*a[at:end]))[0])


def fast_path(point: Point, reg: Register, at: int) -> Fast | None:
    """The point's value straight from a clean answer (see `_clean`) for the common kinds of point: a
    number in range, a 0/1 flag, a known code of an enum; DECLINED for anything else (out of range, an
    unknown code), which the careful path then decodes, naming the problem. Each accepts exactly what
    `convert` would accept, with the same value (tests/devices/test_registers.py checks it)."""
    if point.map is not None or point.bit is not None:
        return None
    if reg.table.holds_bits:
        return (lambda a: bool(a[at])) if point.enum is None and point.type is PointType.BOOL else None
    whole = _integer_of(reg, at)
    if whole is not None and point.enum is not None:
        names = point.enum
        return lambda a: names.get(whole(a), DECLINED)
    if whole is not None and point.type is PointType.BOOL:
        flags = {0: False, 1: True}
        return lambda a: flags.get(whole(a), DECLINED)
    take: Callable[[Sequence[int]], int | float] | None = None
    if point.enum is None and point.type is PointType.FLOAT:
        take = whole or _float_of(reg, at)
    elif point.enum is None and point.type is PointType.INT:
        take = whole
    if take is None:
        return None
    low = max(point.min, -_WIDEST) if point.min is not None else -_WIDEST
    high = min(point.max, _WIDEST) if point.max is not None else _WIDEST
    kind: Callable[[float], int | float] = float if point.type is PointType.FLOAT else int
    if point.scale != 1.0 or point.offset:
        scale, offset = point.scale, point.offset
        return lambda a: kind(v) if low <= (v := take(a) * scale + offset) <= high else DECLINED
    return lambda a: kind(v) if low <= (v := take(a)) <= high else DECLINED


def _clean(read: Read, answer: Sequence[Word]) -> bool:
    """Every word of the read there and of its table's kind (a register an int 0..65535, as pymodbus
    always gives): the fast paths then need not check each word again."""
    if len(answer) < read.count or None in answer:
        return False
    if read.table.holds_bits:
        return True
    words = cast(Sequence[int], answer)
    return set(map(type, words)) == {int} and min(words) >= 0 and max(words) <= 0xFFFF


def _raw(answer: Sequence[Word], slot: Slot) -> tuple[int | float | bool | None, str | None]:
    words = answer[slot.offset : slot.offset + slot.words]
    if len(words) < slot.words or None in words:
        return None, NOT_IN_ANSWER
    if slot.bit_table:
        return bool(words[0]), None
    if slot.plain:  # one big-endian word, unsigned: most points of most devices
        w = words[0]
        if isinstance(w, bool) or not 0 <= w <= 0xFFFF:  # type: ignore[operator]
            return None, f"not a 16-bit register: {w!r:.20}"
        return w, None
    if any(isinstance(w, bool) or not 0 <= w <= 0xFFFF for w in words):  # type: ignore[operator]
        return None, f"not 16-bit registers: {list(words)!r:.60}"
    return register_value(words, slot.register), None  # type: ignore[arg-type]


def decode_registers(plan: ModbusPlan, answers: Sequence[Answer], device_id: str, ts: float) -> Decoded:
    """Readings for every point; a failed read makes only its own points bad quality."""
    readings: list[Reading] = []
    problems: list[str] = []
    clean: list[bool] = []
    for read, answer in zip(plan.reads, answers, strict=True):
        if isinstance(answer, ReadFailed):
            problems.append(f"{read.table.value} {read.address}..{read.address + read.count - 1}: {answer}")
            clean.append(False)
        else:
            clean.append(_clean(read, answer))
    for slot in plan.slots:
        answer, fast = answers[slot.read], slot.fast
        if fast is not None and clean[slot.read]:
            value = fast(answer)  # type: ignore[arg-type]
            if value is not DECLINED:
                readings.append(Reading(device_id, slot.name, value, ts, slot.unit, slot.role))  # type: ignore[arg-type]
                continue
        p = slot.point
        if not isinstance(answer, ReadFailed):
            raw, why = _raw(answer, slot)
            if why is None:
                value, why = slot.convert(raw, p)
                if why is None:
                    readings.append(Reading(device_id, p.name, value, ts, p.unit, p.role))
                    continue
            problems.append(f"{p.name} ({slot.register.table.value} {slot.register.address}): {why}")
        readings.append(Reading(device_id, p.name, None, ts, p.unit, p.role, Quality.BAD))
    if plan.names is not None:
        compute(plan.computed, plan.names, Out(device_id, ts, readings, problems))
    return Decoded(readings, problems)


def unavailable(plan: ModbusPlan, device_id: str, ts: float) -> list[Reading]:
    """What a device that did not answer reports: every point, no value, quality unavailable."""
    return [
        Reading(device_id, s.point.name, None, ts, s.point.unit, s.point.role, Quality.UNAVAILABLE) for s in plan.slots
    ]


def dump_answers(plan: ModbusPlan, dump: dict[Table, dict[int, int | bool]]) -> list[Answer]:
    """The answers a register dump (table -> address -> value) gives to the plan's reads."""
    return [[dump.get(r.table, {}).get(a) for a in range(r.address, r.address + r.count)] for r in plan.reads]


def _address(text: object, table: str) -> int:
    """`16`, `"16"` or `"0x10"`: register dumps copy addresses from manuals, which print hex as often as not."""
    try:
        address = int(str(text), 0) if not isinstance(text, bool) else -1
    except ValueError:
        address = -1
    if not 0 <= address <= 65535:
        raise ValueError(f"{table}.{text}: not a register address (0..65535, decimal or 0x hex)")
    return address


def _word(value: object, where: str, bits: bool) -> int | bool:
    """A dumped register: 0..65535, or -32768..-1 as a tool prints a signed register (stored as its bits)."""
    if isinstance(value, bool) and bits:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if bits and value in (0, 1):
            return bool(value)
        if not bits and -0x8000 <= value <= 0xFFFF:
            return value & 0xFFFF
    allowed = "0/1 or true/false" if bits else "an integer from -32768 to 65535"
    raise ValueError(f"{where}: {value!r} is not {allowed}")


def parse_dump(doc: object) -> dict[Table, dict[int, int | bool]]:
    """A register dump as integrators write one: `{"holding": {"16": [2301, 312, 718]}}`, each list the
    values from that address on; addresses may be hex (`"0x10"`), registers signed as tools print them.
    Raises ValueError naming what is wrong."""
    if not isinstance(doc, dict):
        raise ValueError("a register dump is an object: table -> {start address: [values]}")
    dump: dict[Table, dict[int, int | bool]] = {}
    for table_name, blocks in doc.items():
        try:
            table = Table(table_name)
        except ValueError:
            raise ValueError(f"{table_name!r}: not a table; use one of {[t.value for t in Table]}") from None
        if not isinstance(blocks, dict):
            raise ValueError(f"{table_name}: expected {{start address: [values]}}")
        values = dump.setdefault(table, {})
        for start, block in blocks.items():
            first = _address(start, table_name)
            if not isinstance(block, list):
                raise ValueError(f"{table_name}.{start}: expected a list of values")
            for i, v in enumerate(block):
                values[first + i] = _word(v, f"{table_name}.{start}[{i}]", table.holds_bits)
    return dump


class WriteRefused(ValueError):  # noqa: N818 - a refusal, named as the command's reply says it
    """A write the profile does not allow, or a value the point cannot take; the text says which."""


@dataclass(frozen=True, slots=True)
class Write:
    """One write request: a coil's state, or the 16-bit words of a holding register value."""

    point: str
    table: Table
    address: int
    values: tuple[int, ...] | bool


_PACK = {DataType.FLOAT32: struct.Struct(">f"), DataType.FLOAT64: struct.Struct(">d")}
_RANGE = {
    DataType.INT16: (-(1 << 15), (1 << 15) - 1),
    DataType.UINT16: (0, (1 << 16) - 1),
    DataType.INT32: (-(1 << 31), (1 << 31) - 1),
    DataType.UINT32: (0, (1 << 32) - 1),
    DataType.INT64: (-(1 << 63), (1 << 63) - 1),
    DataType.UINT64: (0, (1 << 64) - 1),
}


def _raw_code(point: Point, value: object) -> object:
    """The device's code for a named or mapped value (the reverse of `enum`/`map`)."""
    table: dict[object, object] = {}
    for code, named in [*(point.enum or {}).items(), *(point.map or {}).items()]:
        table[code] = named
    if not table:
        return value
    codes = [code for code, v in table.items() if v == value and type(v) is type(value)]
    if not codes:
        raise WriteRefused(f"{point.name}: {value!r} is none of {sorted(map(str, table.values()))}")
    return int(codes[0]) if isinstance(codes[0], str) else codes[0]


def plan_write(plan: ModbusPlan, point_name: str, value: object) -> tuple[Write, ModbusPlan]:
    """The request that sets `point_name` to `value`, and a plan that reads the point back. Raises
    WriteRefused naming why: unknown or read-only point, a value of the wrong type or out of range."""
    slot = next((s for s in plan.slots if s.point.name == point_name), None)
    if slot is None:
        raise WriteRefused(f"no point {point_name!r} in profile {plan.profile.id!r}")
    p, reg = slot.point, slot.register
    if not p.writable:
        raise WriteRefused(f"{point_name}: not writable (the profile does not mark it `writable: true`)")
    if p.min is not None and isinstance(value, int | float) and not isinstance(value, bool) and value < p.min:
        raise WriteRefused(f"{point_name}: {value!r} is below its min {p.min}")
    if p.max is not None and isinstance(value, int | float) and not isinstance(value, bool) and value > p.max:
        raise WriteRefused(f"{point_name}: {value!r} is above its max {p.max}")
    raw = _raw_code(p, value)
    back = ModbusPlan(plan.profile, plan.transport, (Read(reg.table, reg.address, reg.words),), (_alone(slot),))
    if reg.table is Table.COIL:
        if not isinstance(raw, bool):
            raise WriteRefused(f"{point_name}: a coil takes true or false, not {value!r}")
        return Write(point_name, Table.COIL, reg.address, raw), back
    return Write(point_name, Table.HOLDING, reg.address, _words(p, reg, raw)), back


def _alone(slot: Slot) -> Slot:
    return replace(slot, read=0, offset=0, fast=fast_path(slot.point, slot.register, 0))


def _words(p: Point, reg: Register, raw: object) -> tuple[int, ...]:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise WriteRefused(f"{p.name}: a register takes a number, not {raw!r}")
    number = (raw - p.offset) / p.scale if (p.scale != 1.0 or p.offset) else raw
    packer = _PACK.get(reg.data_type)
    if packer is not None:
        data = packer.pack(float(number))
    else:
        whole = round(number)
        if abs(number - whole) > 1e-6 * max(1.0, abs(number)):
            raise WriteRefused(f"{p.name}: {raw!r} is not a whole number of steps of {p.scale:g}")
        low, high = _RANGE[reg.data_type]
        if not low <= whole <= high:
            raise WriteRefused(f"{p.name}: {raw!r} does not fit in {reg.data_type.value}")
        data = (whole & ((1 << (16 * reg.words)) - 1)).to_bytes(2 * reg.words, "big")
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if reg.word_order == "little":
        words.reverse()
    if reg.byte_order == "little":
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return tuple(words)
