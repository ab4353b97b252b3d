"""The console's features behind HTTP: bulk verify/reject, photos at a step (size, type, scope), the
grid map and charts scoped to the officer, the gateways' retained status and their offline cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from gridedge.center.api import create_app
from gridedge.center.gateways import StatusError, offline_changes, parse_status, record_status
from gridedge.center.settings import ConsoleConfig
from gridedge.center.store import CaseQuery, CaseStore
from gridedge.center.web import CSRF_HEADER
from gridedge.devtools.demo_centre import demo_grid_map
from gridedge.edge.clock import FakeClock
from gridedge.edge.event import EventStatus
from tests.center.conftest import BASE_URL, NOW, login, post_form

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
ROOT = Path(__file__).parents[2]


@pytest.fixture
def console(store: CaseStore, clock: FakeClock, tmp_path: Path) -> TestClient:
    grid_map = tmp_path / "grid.geojson"
    cells = [
        {"type": "Feature", "properties": {"grid": g}, "geometry": {"type": "Polygon", "coordinates": [[[0, 0]]]}}
        for g in ("D01/S01/C01/G01", "D01/S01/C01/G02", "D01/S02/C03/G04")
    ]
    grid_map.write_text(json.dumps({"type": "FeatureCollection", "features": cells}))
    config = ConsoleConfig(grid_map=grid_map, photo_max_bytes=1000)
    return TestClient(create_app(store, clock=clock, console=config), base_url=BASE_URL)


def bulk(client: TestClient, data: dict[str, Any], **kwargs: Any) -> Response:
    return client.post("/cases/bulk", data={**data, "csrf": client.headers[CSRF_HEADER]}, **kwargs)


def test_bulk_verify_moves_each_case_and_names_the_ones_refused(console: TestClient, store: CaseStore) -> None:
    login(console, "comm1")
    done = bulk(console, {"action": "verify", "case": ["evt-smoke-01", "evt-shop-001"]}, follow_redirects=False)
    assert done.status_code == 303
    assert {c.state for c in store.cases(("D01", "S01", "C01"), CaseQuery(state=None), limit=10)} >= {"filed"}
    refused = bulk(console, {"action": "reject", "case": ["evt-smoke-01", "evt-other-01"]})
    assert refused.status_code == 409
    assert "evt-other-01: no case evt-other-01 in your jurisdiction" in refused.text  # another street's case
    assert "evt-smoke-01: cannot reject a case that is filed" in refused.text
    assert bulk(console, {"action": "evaluate", "case": ["evt-smoke-01"]}).status_code == 400
    forged = console.post("/cases/bulk", data={"action": "verify", "case": ["evt-shop-001"]})
    assert forged.status_code == 403  # no CSRF token: refused before anything moves


def test_a_photo_is_kept_with_its_step_and_served_only_in_scope(console: TestClient) -> None:
    login(console, "comm1")
    post_form(console, "/cases/evt-smoke-01/actions", {"action": "verify"})
    post_form(console, "/cases/evt-smoke-01/actions", {"action": "dispatch", "unit": "fire-1"})
    too_big = post_form(
        console,
        "/cases/evt-smoke-01/actions",
        {"action": "handle", "comment": "done"},
        files=[("photos", ("big.jpg", JPEG + b"\x00" * 1000, "image/jpeg"))],
    )
    assert too_big.status_code == 413
    assert "photo &#39;big.jpg&#39;: over the limit of 1,000 bytes" in too_big.text
    not_image = post_form(
        console,
        "/cases/evt-smoke-01/actions",
        {"action": "handle", "comment": "done"},
        files=[("photos", ("x.jpg", b"<svg onload=alert(1)>", "image/jpeg"))],
    )
    assert (not_image.status_code, "not a JPEG, PNG or WebP image" in not_image.text) == (413, True)
    ok = post_form(
        console,
        "/cases/evt-smoke-01/actions",
        {"action": "handle", "comment": "charger unplugged"},
        files=[("photos", ("after.jpg", JPEG, "image/jpeg"))],
        follow_redirects=False,
    )
    assert ok.status_code == 303
    page = console.get("/cases/evt-smoke-01").text
    assert '<img src="/cases/evt-smoke-01/photos/1"' in page
    photo = console.get("/cases/evt-smoke-01/photos/1")
    assert (photo.status_code, photo.headers["content-type"], photo.content) == (200, "image/jpeg", JPEG)
    post_form(console, "/logout", {})
    login(console, "grid2")  # the neighbouring grid: same answer as for a photo that does not exist
    assert console.get("/cases/evt-smoke-01/photos/1").status_code == 404


def test_closing_a_still_firing_case_needs_the_officers_word_and_says_so(console: TestClient) -> None:
    login(console, "comm1")
    for data in ({"action": "verify"}, {"action": "dispatch", "unit": "fire-1"}, {"action": "handle", "comment": "x"}):
        post_form(console, "/cases/evt-smoke-01/actions", data)
    page = console.get("/cases/evt-smoke-01").text
    assert 'name="confirm_source_firing" value="1" required' in page
    refused = post_form(console, "/cases/evt-smoke-01/actions", {"action": "close"})
    assert (refused.status_code, "still fires" in refused.text) == (409, True)
    closed = post_form(console, "/cases/evt-smoke-01/actions", {"action": "close", "confirm_source_firing": "1"})
    assert "closed on confirmation while the source still fired" in closed.text


def test_the_map_and_charts_show_only_the_officers_part(console: TestClient, clock: FakeClock) -> None:
    login(console, "grid1")
    cells = console.get("/api/grid/map").json()["features"]
    assert [f["properties"]["grid"] for f in cells] == ["D01/S01/C01/G01"]
    assert console.get("/api/grid/heat").json() == [
        {"grid": "D01/S01/C01/G01", "name": "第一网格", "open_cases": 2, "escalated": 0, "worst": "critical"}
    ]
    chart = console.get("/api/charts/cases?by=category&days=3").json()
    assert chart["days"][-1] == "2026-05-01"  # NOW is 2026-05-01 08:00 UTC, 16:00 in Asia/Shanghai
    assert {s["key"]: sum(s["counts"]) for s in chart["series"]} == {
        "fire_safety.smoke_alarm": 1,
        "street_order.outside_shop_operation": 1,
    }
    assert console.get("/api/charts/cases?by=password").status_code == 422


def test_the_demo_map_example_is_the_demos_own() -> None:
    example = json.loads((ROOT / "examples" / "demo-grid.geojson").read_text(encoding="utf-8"))
    assert example == demo_grid_map()


def status(state: str, **extra: object) -> bytes:
    return json.dumps({"state": state, "gateway_id": "gw-01", "version": "1.4", **extra}).encode()


def test_a_gateway_status_is_checked_before_it_is_kept() -> None:
    topic = "gridedge/v1/status/gw-01"
    assert parse_status(topic, status("online", ts="2026-05-01T08:00:00+00:00")).state == "online"
    for payload, reason in (
        (b"{", "Invalid JSON"),
        (status("sleeping"), "Input should be 'online' or 'offline'"),
        (json.dumps({"state": "online", "gateway_id": "gw-02", "version": "1"}).encode(), "names gateway gw-02"),
        (b" " * 70_000, "over 65536"),
    ):
        with pytest.raises(StatusError, match=reason):
            parse_status(topic, payload)


def test_an_offline_gateway_raises_a_case_in_its_grid_and_resolves_it_when_back(
    store: CaseStore, console: TestClient
) -> None:
    heartbeat = status("online", ts="2026-05-01T08:00:00+00:00", queue={"depth": 3})
    online = parse_status("gridedge/v1/status/gw-01", heartbeat)
    record_status(store.engine, online, heartbeat, NOW)
    lost = parse_status("gridedge/v1/status/gw-01", status("offline", reason="lost"))
    record_status(store.engine, lost, status("offline", reason="lost"), NOW + 10)
    assert offline_changes(store.engine, NOW + 100, after_s=300) == []
    (change,) = offline_changes(store.engine, NOW + 400, after_s=300)
    assert (change.event.category, change.event.grid.codes()) == ("device.offline", ("D01", "S01", "C01", "G01"))
    store.add(change.event, NOW + 400)
    from gridedge.center.gateways import mark_offline_case

    mark_offline_case(store.engine, "gw-01", change.event.event_id)
    assert offline_changes(store.engine, NOW + 500, after_s=300) == []
    login(console, "grid1")
    page = console.get("/gateways").text
    assert 'data-gateway="gw-01" class="offline"' in page
    assert f'href="/cases/{change.event.event_id}"' in page
    post_form(console, "/logout", {})
    login(console, "grid2")  # gw-01 reports from G01: not in G02's list
    assert "gw-01" not in console.get("/gateways").text
    record_status(store.engine, online, status("online"), NOW + 600)
    (back,) = offline_changes(store.engine, NOW + 601, after_s=300)
    assert (back.event.event_id, back.event.status) == (change.event.event_id, EventStatus.RESOLVED)
