"""Random input through every built-in profile's decoder: nothing raises, nothing bad passes as good."""

import base64
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridedge.devices.binding import compile_any
from gridedge.devices.decode import CompiledProfile, decode_json
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.devices.registers import ModbusPlan, ReadFailed, decode_registers
from gridedge.edge.reading import Quality, Reading

COMPILED = {pid: compile_any(p) for pid, p in load_profiles([BUILTIN_PROFILES]).items()}
MQTT = sorted(pid for pid, c in COMPILED.items() if isinstance(c, CompiledProfile))
MODBUS = sorted(pid for pid, c in COMPILED.items() if isinstance(c, ModbusPlan))

leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)


def _sound(readings: list[Reading], compiled: CompiledProfile | ModbusPlan) -> None:
    bounds = {p.name: (p.min, p.max) for p in compiled.profile.all_points()}
    for r in readings:
        if r.quality is not Quality.GOOD:
            assert r.value is None
            continue
        assert r.value is not None
        if isinstance(r.value, float):
            assert math.isfinite(r.value)
        low, high = bounds[r.point]
        if isinstance(r.value, int | float) and not isinstance(r.value, bool):
            assert low is None or r.value >= low
            assert high is None or r.value <= high


@pytest.mark.parametrize("profile_id", MQTT)
@settings(max_examples=150, deadline=None)
@given(
    doc=json_values,
    fields=st.dictionaries(st.sampled_from(["presence", "dwell_s", "beam_breaks", "state", "ts"]), json_values),
)
def test_json_decoders(profile_id: str, doc: object, fields: dict[str, object]) -> None:
    compiled = COMPILED[profile_id]
    assert isinstance(compiled, CompiledProfile)
    for candidate in (doc, fields):
        _sound(decode_json(json.dumps(candidate).encode(), compiled, "X", 0.0).readings, compiled)


@pytest.mark.parametrize("profile_id", MODBUS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_register_decoders(profile_id: str, data: st.DataObject) -> None:
    plan = COMPILED[profile_id]
    assert isinstance(plan, ModbusPlan)
    word = st.integers(0, 0xFFFF) | st.integers(-5, 70_000) | st.none() | st.booleans()
    answers = [
        data.draw(st.just(ReadFailed("Modbus exception 4")) | st.lists(word, max_size=r.count + 2)) for r in plan.reads
    ]
    decoded = decode_registers(plan, answers, "X", 0.0)
    assert len(decoded.readings) == len(plan.slots)
    _sound(decoded.readings, plan)


ENVELOPED = sorted(
    pid for pid, c in COMPILED.items() if isinstance(c, CompiledProfile) and c.profile.envelope is not None
)


@pytest.mark.parametrize("profile_id", ENVELOPED)
@settings(max_examples=150, deadline=None)
@given(frame=st.binary(max_size=48), port=st.integers(0, 255) | st.none(), rssi=leaves, at=leaves)
def test_network_server_uplinks_with_any_frame(
    profile_id: str, frame: bytes, port: int | None, rssi: object, at: object
) -> None:
    """Well-formed envelopes around any frame, any fPort, any metadata: nothing raises or passes bad."""
    compiled = COMPILED[profile_id]
    assert isinstance(compiled, CompiledProfile)
    data = base64.b64encode(frame).decode()
    if compiled.profile.envelope == "chirpstack_v4":
        doc: dict[str, object] = {"time": at, "fPort": port, "data": data, "rxInfo": [{"rssi": rssi}]}
    else:
        doc = {
            "received_at": at,
            "uplink_message": {"f_port": port, "frm_payload": data, "rx_metadata": [{"rssi": rssi}]},
        }
    _sound(decode_json(json.dumps(doc).encode(), compiled, "X", 0.0).readings, compiled)
