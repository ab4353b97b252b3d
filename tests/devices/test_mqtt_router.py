import json
import logging

import pytest

from gridedge.devices.binding import bind
from gridedge.devices.drivers.mqtt import MqttRouter
from gridedge.devices.inventory import DeviceEntry, Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.edge.grid import Location


def _router() -> MqttRouter:
    devices = [
        DeviceEntry(id=f"SA-{i}", profile="generic-smoke-alarm", key=f"vendor-{i}", location=Location(site="x"))
        for i in range(3)
    ]
    return MqttRouter(bind(Inventory(devices=devices), load_profiles([BUILTIN_PROFILES]), "inv"))


def test_subscribes_once_per_profile_and_routes_by_key() -> None:
    router = _router()
    assert router.subscriptions == ["bridge/smoke/+/up"]
    readings = router.route("bridge/smoke/vendor-2/up", json.dumps({"state": {"smoke": True}}).encode(), 1.0)
    assert [(r.device_id, r.point, r.value) for r in readings] == [("SA-2", "smoke", True)]


def test_bad_input_is_logged_once_counted_and_does_not_stop_others(caplog: pytest.LogCaptureFixture) -> None:
    router = _router()
    with caplog.at_level(logging.WARNING):
        assert router.route("bridge/smoke/stranger/up", b"{}", 1.0) == []
        assert router.route("bridge/smoke/vendor-0/up", b"{oops", 1.0) == []
        assert router.route("bridge/smoke/vendor-1/up", b"{" + b" " * 70_000 + b"}", 1.0) == []
        good = router.route("bridge/smoke/vendor-2/up", b'{"state": {"smoke": false}}', 1.0)
    assert [r.value for r in good] == [False]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "topic bridge/smoke/stranger/up: no device in the inventory" in lines[0]
    assert lines[1].startswith("device SA-0 (topic bridge/smoke/vendor-0/up): not JSON")
    assert lines[2].startswith("device SA-1 (topic bridge/smoke/vendor-1/up): payload of 70002 bytes exceeds 65536")
    assert router.counters["rejected_unknown_device"] == 1
    assert router.counters["rejected_fields"] == 2
    assert router.counters["messages"] == 4
