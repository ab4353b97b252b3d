"""The local API: token auth, devices with their last readings, events, outbox, reload and silences."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridedge.edge.alert import Alert
from gridedge.edge.clock import FakeClock
from gridedge.edge.event import EventStatus, Severity
from gridedge.edge.reading import Reading
from gridedge.gateway.agent import Agent
from tests.gateway.ops_support import AUTH, TOKEN, agent_at_rest, api_client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def agent(tmp_path: Path, clock: FakeClock) -> Iterator[Agent]:
    built = agent_at_rest(tmp_path, clock)
    yield built
    built.outbox.close()


@pytest.fixture
async def http(agent: Agent) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(agent) as client:
        yield client


def alert(status: EventStatus = EventStatus.FIRING, seq: int = 1) -> Alert:
    return Alert(
        event_id="e1",
        seq=seq,
        status=status,
        rule_id="smoke_alarm",
        dedup_key="smoke_alarm:SA-0002",
        device_id="SA-0002",
        category="fire_safety.smoke_alarm",
        severity=Severity.CRITICAL,
        title="Smoke alarm at Building 2 stairwell",
        started_at=1_700_000_000.0,
        observed_at=1_700_000_000.0,
    )


@pytest.mark.parametrize("path", ["/api/devices", "/api/events", "/api/outbox", "/metrics", "/readyz"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
async def test_every_route_wants_the_token(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
    response = await http.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_health_needs_no_token_and_names_the_gateway(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json()["gateway_id"] == "gw-demo-01"


async def test_not_ready_until_the_southbound_broker_is_connected(http: httpx.AsyncClient, agent: Agent) -> None:
    assert (await http.get("/readyz", headers=AUTH)).status_code == 503
    agent.pipeline.southbound.mqtt.connected = True
    response = await http.get("/readyz", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"ready": True, "southbound_connected": True, "uplink": "disconnected"}


async def test_devices_show_state_and_last_values(http: httpx.AsyncClient, agent: Agent, clock: FakeClock) -> None:
    def by_id(devices: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {d["id"]: d for d in devices}

    devices = by_id((await http.get("/api/devices", headers=AUTH)).json())
    assert len(devices) == 5
    assert {d["state"] for d in devices.values()} == {"never_seen"}

    agent.ops.on_readings([Reading("SA-0002", "smoke", True, clock.now(), role="smoke")])
    agent.ops.on_readings([Reading("SA-0002", "battery_pct", 88.0, clock.now(), unit="%")])
    device = (await http.get("/api/devices/SA-0002", headers=AUTH)).json()
    assert device["state"] == "online"
    assert device["points"]["smoke"]["value"] is True
    assert device["points"]["battery_pct"] == {"value": 88.0, "unit": "%", "ts": clock.now(), "quality": "good"}

    clock.advance(16)  # the demo devices are offline after 15 s of silence
    assert (await http.get("/api/devices/SA-0002", headers=AUTH)).json()["state"] == "offline"
    assert (await http.get("/api/devices/SA-9999", headers=AUTH)).status_code == 404


async def test_recent_events_newest_first_and_the_outbox(http: httpx.AsyncClient, agent: Agent) -> None:
    agent.ops.on_alerts([alert()])
    agent.ops.on_alerts([alert(EventStatus.RESOLVED, seq=2)])
    events = (await http.get("/api/events", params={"limit": 5}, headers=AUTH)).json()
    assert [(e["event_id"], e["seq"], e["status"]) for e in events] == [("e1", 2, "resolved"), ("e1", 1, "firing")]

    outbox = (await http.get("/api/outbox", headers=AUTH)).json()
    assert outbox["depth"] == 0
    assert outbox["uplink"]["state"] == "disconnected"


async def test_reload_calls_the_control_ports_reloads(http: httpx.AsyncClient, agent: Agent) -> None:
    calls: list[str] = []

    async def reload_rules() -> bool:
        calls.append("rules")
        return True

    agent.pipeline.reload_rules = reload_rules  # type: ignore[method-assign]
    response = await http.post("/api/config/reload", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["detail"] == {"reload_devices": True, "reload_rules": True}
    assert calls == ["rules"]


async def test_a_silence_added_here_is_in_force_until_expired(http: httpx.AsyncClient, clock: FakeClock) -> None:
    ends = datetime.fromtimestamp(clock.now() + 3600, tz=UTC).isoformat()
    body = {"device": "SA-0002", "ends_at": ends, "reason": "detector replaced", "author": "li.wei"}
    added = await http.post("/api/silences", json=body, headers=AUTH)
    assert added.status_code == 200
    listed = (await http.get("/api/silences", headers=AUTH)).json()
    assert [(s["id"], s["device"], s["reason"], s["author"], s["from_pack"]) for s in listed] == [
        (added.json()["id"], "SA-0002", "detector replaced", "li.wei", False)
    ]
    nothing = await http.post("/api/silences", json={"ends_at": ends}, headers=AUTH)
    assert nothing.status_code == 422  # a silence needs a rule, device or site
    expired = await http.delete(f"/api/silences/{added.json()['id']}", headers=AUTH)
    assert expired.status_code == 200
    assert (await http.get("/api/silences", headers=AUTH)).json() == []
    assert (await http.delete(f"/api/silences/{added.json()['id']}", headers=AUTH)).status_code == 404


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"ends_at_s": 8 * 86400}, "a silence may last at most 604800 s (168 h); this one would last 691200 s"),
        ({"author": ""}, "a silence needs an author"),
        ({"reason": ""}, "a silence needs a reason"),
        ({"ends_at_s": -60}, "is not in the future"),
    ],
)
async def test_a_silence_an_installer_may_not_set_is_refused_with_the_reason(
    http: httpx.AsyncClient, clock: FakeClock, change: dict[str, Any], why: str
) -> None:
    ends = datetime.fromtimestamp(clock.now() + change.pop("ends_at_s", 3600), tz=UTC).isoformat()
    body = {"device": "SA-0002", "ends_at": ends, "reason": "works", "author": "li.wei"} | change
    refused = await http.post("/api/silences", json=body, headers=AUTH)
    assert refused.status_code == 422
    assert why in refused.json()["detail"]
    assert (await http.get("/api/silences", headers=AUTH)).json() == []


async def test_cameras_panel_is_empty_until_cameras_exist(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/cameras", headers=AUTH)).json() == []
    assert (await http.get("/api/cameras/cam-1/frame.jpg", headers=AUTH)).status_code == 404
    assert (await http.post("/api/cameras/cam-1/reference", headers=AUTH)).status_code == 404
    assert (await http.post("/api/cameras/cam-1/reference")).status_code == 401


async def test_installer_page_is_served_without_external_assets(http: httpx.AsyncClient) -> None:
    page = await http.get("/ui/")
    assert page.status_code == 200
    assert "GridEdge gateway" in page.text
    for asset in ("app.js", "style.css"):
        text = (await http.get(f"/ui/{asset}")).text
        assert "http://" not in text
        assert "https://" not in text
    assert "https://" not in page.text


async def test_a_device_is_tested_with_a_sample_decoded_by_its_profile(http: httpx.AsyncClient) -> None:
    sample = '{"ts": 1700000000500, "state": {"smoke": true, "tamper": false}, "battery": 87}'
    decoded = (await http.post("/api/devices/SA-0002/test", json={"payload": sample}, headers=AUTH)).json()
    values = {r["point"]: r["value"] for r in decoded["readings"]}
    assert (values["smoke"], values["tamper"]) == (True, False)
    assert decoded["device_time"] == 1_700_000_000.5
    assert "low_battery" in decoded["absent"]
    as_hex = {"payload": sample.encode().hex(), "encoding": "hex"}
    assert (await http.post("/api/devices/SA-0002/test", json=as_hex, headers=AUTH)).json() == decoded
    # Refusals name what is wrong; nothing is stored or decided.
    unknown = await http.post("/api/devices/SA-9999/test", json={"payload": sample}, headers=AUTH)
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "no device 'SA-9999' in the inventory")
    bad_hex = await http.post("/api/devices/SA-0002/test", json={"payload": "zz", "encoding": "hex"}, headers=AUTH)
    assert bad_hex.status_code == 422
    assert "payload is not hex" in bad_hex.json()["detail"]
    huge = await http.post("/api/devices/SA-0002/test", json={"payload": "x" * 70_000}, headers=AUTH)
    assert huge.status_code == 422
    assert (await http.get("/api/events", headers=AUTH)).json() == []
