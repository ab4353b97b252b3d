import math
import struct
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridedge.devices import registers
from gridedge.devices.profile import BUILTIN_PROFILES, DataType, Profile, Register, Table, load_profiles
from gridedge.devices.registers import (
    Answer,
    ModbusPlan,
    Read,
    ReadFailed,
    decode_registers,
    dump_answers,
    plan_reads,
    register_value,
)
from gridedge.edge.reading import Quality

PROFILES = load_profiles([BUILTIN_PROFILES])
PILE = plan_reads(PROFILES["ebike-charging-pile-10"])


def _words(fmt: str, value: float) -> list[int]:
    data = struct.pack(fmt, value)
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


@pytest.mark.parametrize(
    ("words", "register", "expected"),
    [
        ([0xFFFF], {"data_type": "uint16"}, 65535),
        ([0xFFFF], {"data_type": "int16"}, -1),
        ([0x8000], {"data_type": "int16"}, -32768),
        ([0x0001, 0x0002], {"data_type": "uint32"}, 0x0001_0002),
        ([0x0002, 0x0001], {"data_type": "uint32", "word_order": "little"}, 0x0001_0002),
        ([0xFFFF, 0xFFFE], {"data_type": "int32"}, -2),
        ([0x0100], {"data_type": "uint16", "byte_order": "little"}, 1),
        ([0x3412, 0x7856], {"data_type": "uint32", "byte_order": "little"}, 0x1234_5678),
        ([0x7856, 0x3412], {"data_type": "uint32", "byte_order": "little", "word_order": "little"}, 0x1234_5678),
        (_words(">f", 230.5), {"data_type": "float32"}, 230.5),
        (_words(">f", -1.25)[::-1], {"data_type": "float32", "word_order": "little"}, -1.25),
        ([0b1010_0000], {"bit": 5}, 1),
        ([0b1010_0000], {"bit": 4}, 0),
        ([0b0111_0000], {"bit": 4, "bits": 3}, 7),
        ([0x0001, 0x0000], {"data_type": "uint32", "bit": 16}, 1),
    ],
)
def test_register_values(words: list[int], register: dict[str, object], expected: float) -> None:
    assert register_value(words, Register.model_validate({"address": 0, **register})) == expected


def test_a_ten_port_pile_is_read_in_the_fewest_requests() -> None:
    # 168 registers from 0 to 167 with small gaps: two reads, each within the 125-register limit.
    assert PILE.reads == (Read(Table.HOLDING, 0, 120), Read(Table.HOLDING, 128, 40))
    assert len(PILE.slots) == 4 + 10 * 8
    assert {s.point.name for s in PILE.slots} >= {"port1.current", "port10.charging", "total_power"}


def _modbus_profile(points: list[dict[str, object]], max_gap: int = 16) -> Profile:
    return Profile.model_validate(
        {"id": "t", "vendor": "v", "model": "m", "transport": {"type": "modbus", "max_gap": max_gap}, "points": points}
    )


@pytest.mark.parametrize(
    ("addresses", "max_gap", "reads"),
    [
        ([0, 1, 2], 0, [(0, 3)]),
        ([0, 2], 0, [(0, 1), (2, 1)]),
        ([0, 2], 1, [(0, 3)]),
        ([0, 124], 125, [(0, 125)]),
        ([0, 124], 122, [(0, 1), (124, 1)]),
        ([0, 125], 125, [(0, 1), (125, 1)]),
    ],
)
def test_grouping_joins_small_gaps_and_respects_the_limit(
    addresses: list[int], max_gap: int, reads: list[tuple[int, int]]
) -> None:
    points = [{"name": f"p{a}", "modbus": {"address": a}, "type": "int"} for a in addresses]
    plan = plan_reads(_modbus_profile(points, max_gap))
    assert [(r.address, r.count) for r in plan.reads] == reads


def test_a_32_bit_value_is_never_split_across_reads() -> None:
    points = [{"name": "a", "modbus": {"address": 0}, "type": "int"}]
    points.append({"name": "b", "modbus": {"address": 124, "data_type": "uint32"}, "type": "int"})
    assert [(r.address, r.count) for r in plan_reads(_modbus_profile(points)).reads] == [(0, 1), (124, 2)]


def _pile_dump(**overrides: int) -> dict[Table, dict[int, int | bool]]:
    regs = dict.fromkeys(range(168), 0)
    regs.update({0: 0, 1: 350, 2: 0b010})
    port3 = 16 * 3
    regs.update({port3: 2301, port3 + 1: 312, port3 + 2: 718, port3 + 3: 1, port3 + 4: 10, port3 + 5: -52 & 0xFFFF})
    regs.update({port3 + 6: 0b11, port3 + 7: 1})
    regs.update({int(k.removeprefix("r")): v for k, v in overrides.items()})
    return {Table.HOLDING: dict(regs)}


def _values(dump: dict[Table, dict[int, int | bool]]) -> dict[str, object]:
    decoded = decode_registers(PILE, dump_answers(PILE, dump), "EP-1", 5.0)
    return {r.point: r.value for r in decoded.readings}


def test_pile_registers_decode_to_the_semantic_points() -> None:
    values = _values(_pile_dump())
    assert values["total_power"] == 350.0
    assert (values["arc_fault"], values["door"], values["smoke"]) == (False, True, False)
    assert values["port3.voltage"] == pytest.approx(230.1)
    assert values["port3.current"] == pytest.approx(3.12)
    assert values["port3.power"] == 718.0
    assert values["port3.energy"] == pytest.approx((65536 + 10) * 0.01)
    assert values["port3.temperature"] == pytest.approx(-5.2)
    assert (values["port3.relay"], values["port3.charging"], values["port3.state"]) == (True, True, "charging")
    assert values["port4.state"] == "idle"


def test_bad_values_are_bad_quality_beside_good_ones() -> None:
    decoded = decode_registers(PILE, dump_answers(PILE, _pile_dump(r55=9, r53=2000)), "EP-1", 5.0)
    bad = {r.point for r in decoded.readings if r.quality is Quality.BAD}
    assert bad == {"port3.state", "port3.temperature"}
    assert "port3.state (holding 55): 9 is none of [0, 1, 2, 3]" in decoded.problems
    assert "port3.temperature (holding 53): 200.0 out of range [-40.0, 150.0]" in decoded.problems


def test_an_exception_response_spoils_only_its_own_read() -> None:
    answers = dump_answers(PILE, _pile_dump())
    answers[1] = ReadFailed("Modbus exception 2 (illegal data address)")
    decoded = decode_registers(PILE, answers, "EP-1", 5.0)
    assert decoded.problems == ["holding 128..167: Modbus exception 2 (illegal data address)"]
    by_point = {r.point: r for r in decoded.readings}
    assert by_point["port8.current"].quality is Quality.BAD
    assert by_point["port7.current"].quality is Quality.GOOD


def test_a_partial_dump_names_the_missing_points() -> None:
    dump = _pile_dump()
    del dump[Table.HOLDING][17]
    decoded = decode_registers(PILE, dump_answers(PILE, dump), "EP-1", 5.0)
    assert decoded.problems == ["port1.current (holding 17): no value in the answer"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.integers(-(2**20), 2**20), st.booleans(), st.none(), st.integers(0, 0xFFFF)),
        min_size=0,
        max_size=130,
    ),
    st.integers(0, 1),
)
def test_decoder_never_raises_and_never_passes_bad_values(words: list[int | bool | None], which: int) -> None:
    answers = [words, words[:40]] if which else [ReadFailed("timeout"), words]
    decoded = decode_registers(PILE, answers, "EP-1", 1.0)
    assert len(decoded.readings) == len(PILE.slots)
    for r in decoded.readings:
        if r.quality is Quality.GOOD:
            assert r.value is not None
            if isinstance(r.value, float):
                assert math.isfinite(r.value)
            if r.point.endswith("temperature"):
                assert -40 <= r.value <= 150  # type: ignore[operator]
        else:
            assert r.value is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2))
def test_float32_register_pairs_decode_or_are_refused(words: list[int]) -> None:
    profile = _modbus_profile([{"name": "f", "modbus": {"address": 0, "data_type": "float32"}, "type": "float"}])
    plan = plan_reads(profile)
    decoded = decode_registers(plan, [words], "X", 1.0)
    (reading,) = decoded.readings
    assert (reading.quality is Quality.GOOD) == math.isfinite(struct.unpack(">f", struct.pack(">HH", *words))[0])


def _every_layout() -> ModbusPlan:
    """A point of each kind the decoder knows on each register layout, coils and discrete inputs too."""
    points: list[dict[str, object]] = []
    address = 0
    for data_type in DataType:
        words = data_type.words
        whole = data_type not in (DataType.FLOAT32, DataType.FLOAT64)
        kinds: list[dict[str, object]] = [
            {"type": "float"},
            {"type": "float", "scale": 0.1, "offset": -40, "min": -30, "max": 6000},
            {"type": "float", "scale": 1e300},  # overflows to inf: refused as `convert` refuses it
            {"type": "float", "min": 0},
        ]
        if whole:
            kinds += [
                {"type": "int"},
                {"type": "int", "scale": 10, "offset": 1, "max": 100_000},
                {"type": "bool"},
                {"type": "string", "enum": {0: "idle", 1: "charging", 65535: "fault"}},
                {"type": "string", "map": {0: "off", 1: "on"}},
            ]
        for orders in ({}, {"byte_order": "little"}, {"word_order": "little"}):
            for kind in kinds:
                register = {"address": address, "data_type": data_type.value, **orders}
                points.append({"name": f"p{len(points)}", "modbus": register, **kind})
                address += words
            if whole:
                for bit, bits in ((0, 1), (16 * words - 1, 1), (2, 3)):
                    register = {"address": address, "data_type": data_type.value, "bit": bit, "bits": bits, **orders}
                    points.append(
                        {"name": f"p{len(points)}", "modbus": register, "type": "bool" if bits == 1 else "int"}
                    )
                    address += words
    for table in ("coil", "discrete"):
        for kind in ({"type": "bool"}, {"type": "int"}, {"type": "string", "enum": {1: "on"}}):
            points.append({"name": f"p{len(points)}", "modbus": {"table": table, "address": len(points)}, **kind})
    return plan_reads(_modbus_profile(points))


EVERY_LAYOUT = _every_layout()
BUILTIN_PLANS = {pid: plan_reads(p) for pid, p in PROFILES.items() if p.transport.type == "modbus"}
EDGES = st.sampled_from([0, 1, 2, 0x7FFF, 0x8000, 0x8001, 0xFFFE, 0xFFFF, 0x3F80, 0x7F80, 0x7FC0, 0xFF80])


def _careful(plan: ModbusPlan) -> ModbusPlan:
    return replace(plan, slots=tuple(replace(s, fast=None) for s in plan.slots))


@pytest.mark.parametrize("name", ["every-layout", *sorted(BUILTIN_PLANS)])
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_the_fast_path_decodes_exactly_as_the_careful_path(name: str, data: st.DataObject) -> None:
    """Clean answers (as pymodbus gives) take each point's fast path; forced down the careful path, which
    checks every word and names every problem, they give the same readings, value types and problems."""
    plan = EVERY_LAYOUT if name == "every-layout" else BUILTIN_PLANS[name]
    assert sum(s.fast is not None for s in plan.slots) > 0
    answers: list[Answer] = []
    for r in plan.reads:
        word = st.booleans() if r.table.holds_bits else EDGES | st.integers(0, 0xFFFF)
        answers.append(data.draw(st.lists(word, min_size=r.count, max_size=r.count)))
    fast = decode_registers(plan, answers, "X", 1.0)
    careful = decode_registers(_careful(plan), answers, "X", 1.0)
    assert [(r, type(r.value)) for r in fast.readings] == [(r, type(r.value)) for r in careful.readings]
    assert fast.problems == careful.problems


def test_a_clean_pile_answer_takes_only_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = {s.point.name for s in EVERY_LAYOUT.slots if s.fast is not None}
    assert 60 < len(fast) < len(EVERY_LAYOUT.slots)  # maps, little-endian words: the careful path only
    monkeypatch.setattr(registers, "_raw", None)  # the careful path would fail here
    decoded = decode_registers(PILE, dump_answers(PILE, _pile_dump()), "EP-1", 5.0)
    assert len(decoded.readings) == 84
    assert not decoded.problems
