import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridedge.devices.decode import compile_path, compile_profile, decode_json
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.edge.reading import Quality

PROFILES = load_profiles([BUILTIN_PROFILES])
SMOKE = compile_profile(PROFILES["generic-smoke-alarm"])


def _payload(**state: object) -> bytes:
    doc = {
        "dev": "SA-1",
        "ts": 1_700_000_000_500,
        "event": "heartbeat",
        "rssi": -70,
        "state": {"smoke": False, "tamper": False, "battery_pct": 90, "low_battery": False, "self_test": False},
    }
    doc["state"].update(state)  # type: ignore[attr-defined]
    return json.dumps(doc).encode()


def _values(payload: bytes) -> dict[str, object]:
    return {r.point: r.value for r in decode_json(payload, SMOKE, "SA-1", 0.0).readings}


@pytest.mark.parametrize(
    ("path", "steps"),
    [("state.smoke", ("state", "smoke")), ("$.ports[2].temp", ("ports", 2, "temp")), ("a[0][1]", ("a", 0, 1))],
)
def test_compile_path(path: str, steps: tuple[object, ...]) -> None:
    assert compile_path(path) == steps


@pytest.mark.parametrize(
    ("state", "point", "expected"),
    [
        ({"smoke": True}, "smoke", True),
        ({"smoke": 1}, "smoke", True),  # bridges that send flags as 0/1
        ({"tamper": True}, "tamper", True),
        ({"low_battery": True}, "low_battery", True),
        ({"self_test": True}, "self_test", True),
        ({"battery_pct": 42}, "battery", 42.0),
    ],
)
def test_smoke_alarm_points(state: dict[str, object], point: str, expected: object) -> None:
    assert _values(_payload(**state))[point] == expected


def test_device_timestamp_in_milliseconds_is_used() -> None:
    readings = decode_json(_payload(), SMOKE, "SA-1", 5.0).readings
    assert {r.ts for r in readings} == {1_700_000_000.5}
    assert next(r for r in readings if r.point == "message").value == "heartbeat"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b"x" * 70_000, "exceeds"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_undecodable_payloads_are_named_problems(payload: bytes, problem: str) -> None:
    decoded = decode_json(payload, SMOKE, "SA-1", 0.0)
    assert decoded.readings == []
    assert problem in decoded.problems[0]


@pytest.mark.parametrize(
    ("state", "point", "problem"),
    [
        ({"smoke": "yes"}, "smoke", "state.smoke: expected bool"),
        ({"battery_pct": 180}, "battery", "state.battery_pct: 180 out of range"),
        ({"battery_pct": "full"}, "battery", "state.battery_pct: expected number"),
        ({"battery_pct": True}, "battery", "state.battery_pct: expected number"),
    ],
)
def test_bad_fields_become_bad_quality_readings_beside_good_ones(
    state: dict[str, object], point: str, problem: str
) -> None:
    decoded = decode_json(_payload(**state), SMOKE, "SA-1", 0.0)
    bad = [r for r in decoded.readings if r.quality is Quality.BAD]
    assert [r.point for r in bad] == [point]
    assert bad[0].value is None
    assert any(p.startswith(problem) for p in decoded.problems)
    assert len([r for r in decoded.readings if r.quality is Quality.GOOD]) == 6


def test_bad_timestamp_falls_back_to_receipt_time() -> None:
    doc = json.loads(_payload())
    doc["ts"] = "yesterday"
    decoded = decode_json(json.dumps(doc).encode(), SMOKE, "SA-1", 123.0)
    assert {r.ts for r in decoded.readings} == {123.0}
    assert "ts: not an epoch time" in decoded.problems[0]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(doc=json_values, state=st.dictionaries(st.sampled_from(["smoke", "tamper", "battery_pct", "x"]), json_values))
def test_decoder_never_raises_and_never_passes_bad_values(doc: object, state: dict[str, object]) -> None:
    for candidate in (doc, {"ts": doc, "state": state, "event": doc}):
        payload = json.dumps(candidate).encode()
        decoded = decode_json(payload, SMOKE, "SA-1", 0.0)
        for r in decoded.readings:
            if r.quality is Quality.GOOD:
                assert r.value is not None
                if isinstance(r.value, float):
                    assert math.isfinite(r.value)
                if r.point == "battery":
                    assert 0 <= r.value <= 100  # type: ignore[operator]


@given(st.binary(max_size=200))
def test_decoder_survives_random_bytes(payload: bytes) -> None:
    decode_json(payload, SMOKE, "SA-1", 0.0)
