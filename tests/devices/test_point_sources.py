"""Every point source beyond a JSON path, table-driven: bits of an integer, value maps, byte layouts of
binary payloads (hex, base64, raw), computed points, routing by message kind, envelopes, unit conversion.
Byte layouts are also checked against Python's own struct packing on random values (hypothesis)."""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridedge.devices.decode import compile_profile, decode_json
from gridedge.devices.layout import ByteType
from gridedge.devices.profile import Profile
from gridedge.edge.reading import Quality

MQTT = {"type": "mqtt", "topic": "t/{key}"}


def _profile(points: list[dict[str, Any]], **extra: Any) -> Profile:
    return Profile.model_validate(
        {"id": "p", "vendor": "v", "model": "m", "transport": MQTT, "points": points, **extra}
    )


def _decode(profile: Profile, payload: bytes | dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    decoded = decode_json(raw, compile_profile(profile), "D", 100.0)
    return {r.point: (r.value if r.quality is Quality.GOOD else "BAD") for r in decoded.readings}, decoded.problems


CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any], dict[str, Any]]] = [
    # (what, points, extra profile fields, payload) -> expected values per point are in EXPECT
    (
        "bit of a JSON integer",
        [{"name": "fire", "path": "object.state", "bit": 1, "type": "bool"}],
        {},
        {"object": {"state": 0b10}},
    ),
    (
        "bitfield of a JSON integer",
        [{"name": "n", "path": "s", "bit": 4, "bits": 3, "type": "int"}],
        {},
        {"s": 0b1011_0000},
    ),
    ("bit of a negative integer", [{"name": "top", "path": "s", "bit": 15, "type": "bool"}], {}, {"s": -1}),
    (
        "code to bool",
        [{"name": "alarm", "path": "event", "type": "bool", "map": {3: True, 0: False}}],
        {},
        {"event": 3},
    ),
    (
        "code to number",
        [{"name": "level", "path": "lvl", "type": "float", "map": {1: 0.5, 2: 1.0}, "scale": 100}],
        {},
        {"lvl": 1},
    ),
    ("text to name", [{"name": "st", "path": "st", "type": "string", "map": {"ALM": "alarm"}}], {}, {"st": "ALM"}),
    ("unknown code", [{"name": "alarm", "path": "event", "type": "bool", "map": {1: True}}], {}, {"event": 7}),
    (
        "bits then map",
        [{"name": "mode", "path": "s", "bit": 2, "bits": 2, "type": "string", "map": {0: "off", 3: "max"}}],
        {},
        {"s": 0b1100},
    ),
    (
        "hex field, int16 big endian with scale",
        [{"name": "t", "layout": {"offset": 1, "type": "int16"}, "type": "float", "scale": 0.1, "unit": "degC"}],
        {"binary": {"path": "raw", "encoding": "hex"}},
        {"raw": "00FF38"},
    ),
    (
        "base64 field, uint32 little endian",
        [{"name": "n", "layout": {"offset": 0, "type": "uint32", "order": "little"}, "type": "int"}],
        {"binary": {"path": "b"}},
        {"b": base64.b64encode(bytes([1, 0, 0, 1])).decode()},
    ),
    (
        "frame too short",
        [{"name": "n", "layout": {"offset": 2, "type": "uint16"}, "type": "int"}],
        {"binary": {"path": "b", "encoding": "hex"}},
        {"b": "0102"},
    ),
    (
        "not hex",
        [{"name": "n", "layout": {"offset": 0}, "type": "int"}],
        {"binary": {"path": "b", "encoding": "hex"}},
        {"b": "zz"},
    ),
    (
        "computed from two points",
        [
            {"name": "port1.v", "path": "v", "type": "float"},
            {"name": "port1.i", "path": "i", "type": "float"},
            {"name": "p", "compute": "port1_v * port1_i", "type": "float", "unit": "W"},
        ],
        {},
        {"v": 230.0, "i": 2.0},
    ),
    (
        "computed: a point it reads is absent, so is it",
        [{"name": "v", "path": "v", "type": "float"}, {"name": "twice", "compute": "v * 2", "type": "float"}],
        {},
        {"other": 1},
    ),
    (
        "computed: a point it reads is bad",
        [{"name": "v", "path": "v", "type": "float"}, {"name": "twice", "compute": "v * 2", "type": "float"}],
        {},
        {"v": "x"},
    ),
    (
        "computed: division by zero is a bad reading",
        [{"name": "v", "path": "v", "type": "float"}, {"name": "inv", "compute": "1 / v", "type": "float"}],
        {},
        {"v": 0},
    ),
    (
        "routed by message type",
        [
            {"name": "smoke", "path": "a", "type": "bool", "when": ["alarm"]},
            {"name": "battery", "path": "a", "type": "float", "when": ["status"]},
        ],
        {"route": {"path": "kind"}},
        {"kind": "status", "a": 80},
    ),
    (
        "routed: unknown kind",
        [{"name": "smoke", "path": "a", "type": "bool", "when": ["alarm"]}],
        {"route": {"path": "kind"}},
        {"kind": "hello", "a": True},
    ),
    (
        "unit converted to the role's",
        [{"name": "t", "path": "t", "type": "float", "unit": "degF", "role": "temperature"}],
        {"family": "charging_pile"},
        {"t": 212},
    ),
]
EXPECT: dict[str, tuple[dict[str, Any], list[str]]] = {
    "bit of a JSON integer": ({"fire": True}, []),
    "bitfield of a JSON integer": ({"n": 3}, []),
    "bit of a negative integer": ({"top": True}, []),
    "code to bool": ({"alarm": True}, []),
    "code to number": ({"level": 50.0}, []),
    "text to name": ({"st": "alarm"}, []),
    "unknown code": ({"alarm": "BAD"}, ["event: 7 is none of ['1']"]),
    "bits then map": ({"mode": "max"}, []),
    "hex field, int16 big endian with scale": ({"t": pytest.approx(-20.0)}, []),
    "base64 field, uint32 little endian": ({"n": 0x0100_0001}, []),
    "frame too short": ({"n": "BAD"}, ["n (byte 2): frame has 2 bytes, the point needs 4"]),
    "not hex": ({}, ["b: not hex: 'zz'"]),
    "computed from two points": ({"port1.v": 230.0, "port1.i": 2.0, "p": 460.0}, []),
    "computed: a point it reads is absent, so is it": ({}, []),
    "computed: a point it reads is bad": (
        {"v": "BAD", "twice": "BAD"},
        ["v: expected number, got str 'x'", "twice: reads a bad-quality point (v)"],
    ),
    "computed: division by zero is a bad reading": (
        {"v": 0.0, "inv": "BAD"},
        ["inv: '1 / v': ZeroDivisionError: float division by zero"],
    ),
    "routed by message type": ({"battery": 80.0}, []),
    "routed: unknown kind": ({}, ["kind: no points for 'hello' (known: ['alarm'])"]),
    "unit converted to the role's": ({"t": pytest.approx(100.0)}, []),
}


@pytest.mark.parametrize(("what", "points", "extra", "payload"), CASES, ids=[c[0] for c in CASES])
def test_point_source(what: str, points: list[dict[str, Any]], extra: dict[str, Any], payload: dict[str, Any]) -> None:
    values, problems = _decode(_profile(points, **extra), payload)
    expected_values, expected_problems = EXPECT[what]
    assert values == expected_values
    assert problems == expected_problems


def test_a_raw_binary_payload_needs_no_json() -> None:
    profile = _profile(
        [
            {"name": "alarm", "layout": {"offset": 0}, "bit": 0, "type": "bool", "role": "smoke"},
            {"name": "t", "layout": {"offset": 1, "type": "int8"}, "type": "float", "unit": "degC"},
        ],
        binary={},
    )
    assert _decode(profile, bytes([0x01, 0xF6])) == ({"alarm": True, "t": -10.0}, [])
    assert _decode(profile, b"\x00") == (
        {"alarm": False, "t": "BAD"},
        ["t (byte 1): frame has 1 bytes, the point needs 2"],
    )


def test_envelopes_carry_port_time_and_frame() -> None:
    points = [{"name": "n", "layout": {"offset": 0}, "type": "int", "when": [2]}]
    chirp = _profile(points, envelope="chirpstack_v4")
    msg = {"time": "2024-01-01T00:00:00Z", "fPort": 2, "data": base64.b64encode(b"\x07").decode()}
    decoded = decode_json(json.dumps(msg).encode(), compile_profile(chirp), "D", 5.0)
    assert [(r.value, r.ts) for r in decoded.readings] == [(7, 1704067200.0)]
    ttn = _profile(points, envelope="ttn_v3")
    msg = {"received_at": "2024-01-01T00:00:01Z", "uplink_message": {"f_port": 3, "frm_payload": "Bw=="}}
    decoded = decode_json(json.dumps(msg).encode(), compile_profile(ttn), "D", 5.0)
    assert (decoded.readings, decoded.problems) == ([], ["uplink_message.f_port: no points for 3 (known: ['2'])"])


def _packed(kind: ByteType, order: str, value: float) -> bytes:
    if kind.is_float:
        return struct.pack(("<" if order == "little" else ">") + ("f" if kind.width == 4 else "d"), value)
    return int(value).to_bytes(kind.width, order, signed=kind.signed)  # type: ignore[arg-type]


@st.composite
def layouts(draw: st.DrawFn) -> tuple[ByteType, str, int, float, bytes]:
    kind = draw(st.sampled_from(list(ByteType)))
    order = draw(st.sampled_from(["big", "little"]))
    bits = 8 * kind.width
    if kind.is_float:
        value = draw(st.floats(allow_nan=False, allow_infinity=False, width=32 if kind.width == 4 else 64))
    elif kind.signed:
        value = draw(st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1))
    else:
        value = draw(st.integers(0, (1 << bits) - 1))
    offset = draw(st.integers(0, 12))
    noise = draw(st.binary(min_size=offset, max_size=offset))
    tail = draw(st.binary(max_size=4))
    return kind, order, offset, value, noise + _packed(kind, order, value) + tail


@settings(max_examples=300, deadline=None)
@given(layout=layouts(), encoding=st.sampled_from(["hex", "base64"]))
def test_byte_layouts_read_what_struct_packed(layout: tuple[ByteType, str, int, float, bytes], encoding: str) -> None:
    kind, order, offset, value, frame = layout
    point_type = "float" if kind.is_float else "int"
    profile = _profile(
        [{"name": "x", "layout": {"offset": offset, "type": kind.value, "order": order}, "type": point_type}],
        binary={"path": "b", "encoding": encoding},
    )
    text = frame.hex() if encoding == "hex" else base64.b64encode(frame).decode()
    values, problems = _decode(profile, {"b": text})
    if kind.is_float and not math.isfinite(
        struct.unpack(">f" if kind.width == 4 else ">d", _packed(kind, "big", value))[0]
    ):
        return
    assert problems == []
    if kind.is_float:
        expected = struct.unpack(
            ("<" if order == "little" else ">") + ("f" if kind.width == 4 else "d"), frame[offset : offset + kind.width]
        )[0]
        assert values["x"] == expected
    else:
        assert values["x"] == value


@settings(max_examples=300, deadline=None)
@given(raw=st.integers(0, (1 << 32) - 1), bit=st.integers(0, 31), width=st.integers(1, 32))
def test_bitfields_of_a_layout_match_shifting(raw: int, bit: int, width: int) -> None:
    width = min(width, 32 - bit)
    profile = _profile(
        [{"name": "f", "layout": {"offset": 0, "type": "uint32"}, "bit": bit, "bits": width, "type": "int"}],
        binary={"path": "b", "encoding": "hex"},
    )
    values, _ = _decode(profile, {"b": raw.to_bytes(4, "big").hex()})
    assert values == {"f": (raw >> bit) & ((1 << width) - 1)}


@settings(max_examples=200, deadline=None)
@given(frame=st.binary(max_size=64), junk=st.text(max_size=20))
def test_any_frame_or_field_decodes_without_raising(frame: bytes, junk: str) -> None:
    profile = _profile(
        [
            {"name": "a", "layout": {"offset": 0, "type": "int16"}, "type": "float", "min": -100, "max": 100},
            {"name": "b", "layout": {"offset": 2}, "bit": 3, "type": "bool"},
            {"name": "c", "compute": "a / 10 + 1", "type": "float"},
        ],
        binary={"path": "d", "encoding": "base64"},
    )
    for payload in ({"d": base64.b64encode(frame).decode()}, {"d": junk}, {"d": frame.hex()}):
        values, _ = _decode(profile, payload)
        for v in values.values():
            assert v == "BAD" or isinstance(v, bool | int | float)
