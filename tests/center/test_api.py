"""The JSON API and the console behind login: each officer sees and moves only their own subtree."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient

from gridedge.center.api import create_app
from gridedge.center.downlink import RecordingDownlink
from gridedge.center.live import ChangeFeed
from gridedge.center.store import CaseStore
from gridedge.edge.clock import FakeClock
from tests.center.conftest import BASE_URL, PASSWORD, SHOP, TOKEN, form_token, login, post_form


def ids(response: object) -> list[str]:
    return sorted(c["event_id"] for c in response.json())  # type: ignore[attr-defined]


def test_health_is_open_and_everything_else_needs_an_officer(app_client: TestClient) -> None:
    assert app_client.get("/api/health").json() == {"status": "ok", "broker_connected": True}
    for path in ("/api/cases", "/api/cases/evt-smoke-01", "/api/grid", "/api/figures", "/api/stats", "/api/stream"):
        response = app_client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    assert app_client.post("/api/cases/evt-smoke-01/actions", json={"action": "verify"}).status_code == 401
    page = app_client.get("/", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/login")


def test_a_wrong_password_is_refused(app_client: TestClient) -> None:
    token = form_token(app_client.get("/login").text)
    response = app_client.post("/login", data={"username": "grid1", "password": "guess-guess", "csrf": token})
    assert response.status_code == 401
    assert "wrong username or password" in response.text
    token = form_token(response.text)
    assert (
        app_client.post("/login", data={"username": "nobody", "password": PASSWORD, "csrf": token}).status_code == 401
    )


def test_passwords_are_stored_as_argon2_hashes(store: CaseStore) -> None:
    from sqlalchemy import text

    with store.engine.connect() as conn:
        hashes = conn.execute(text("SELECT password_hash FROM officers")).scalars().all()
    assert hashes
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_a_grid_officer_sees_only_their_grid(app_client: TestClient) -> None:
    login(app_client, "grid1")
    assert ids(app_client.get("/api/cases?status=all")) == ["evt-done-001", "evt-smoke-01"]
    assert app_client.get("/api/cases/evt-shop-001").status_code == 404
    assert app_client.get("/api/cases/evt-other-01").status_code == 404
    assert app_client.get("/api/cases?grid=D01/S01/C01/G02").json() == []
    assert [g["codes"] for g in app_client.get("/api/grid").json()] == [["D01", "S01", "C01", "G01"]]
    page = app_client.get("/").text
    assert "evt-shop-001" not in page
    assert "Other street" not in page
    assert app_client.get("/cases/evt-shop-001").status_code == 404


def test_a_grid_officer_cannot_act_on_another_grids_case(app_client: TestClient) -> None:
    login(app_client, "grid1")
    response = app_client.post("/api/cases/evt-shop-001/actions", json={"action": "verify"})
    assert response.status_code == 404
    form = post_form(app_client, "/cases/evt-shop-001/actions", {"action": "verify"})
    assert form.status_code == 404
    login(app_client, "grid2")
    assert app_client.get("/api/cases/evt-shop-001").json()["case"]["state"] == "reported"


def test_a_case_above_the_officers_level_is_visible_but_not_movable(app_client: TestClient) -> None:
    login(app_client, "grid1")
    response = app_client.post("/api/cases/evt-smoke-01/actions", json={"action": "verify"})
    assert response.status_code == 403
    assert "community level" in response.json()["detail"]


def test_a_street_token_reads_the_whole_street(app_client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert ids(app_client.get("/api/cases", headers=headers)) == ["evt-done-001", "evt-shop-001", "evt-smoke-01"]
    assert app_client.get("/api/me", headers=headers).json()["username"] == "street1"
    assert app_client.get("/api/cases", headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=all&source_status=resolved", ["evt-done-001"]),
        ("status=all", ["evt-done-001", "evt-other-01", "evt-shop-001", "evt-smoke-01"]),
        (f"category={SHOP}", ["evt-done-001", "evt-shop-001"]),
        ("severity=critical", ["evt-other-01", "evt-smoke-01"]),
        ("level=community", ["evt-other-01", "evt-smoke-01"]),
        ("grid=D01/S02", ["evt-other-01"]),
        ("state=reported&grid=D01/S01/C01/G02", ["evt-shop-001"]),
        ("overdue=true", []),
    ],
)
def test_case_list_filters(app_client: TestClient, query: str, expected: list[str]) -> None:
    login(app_client, "admin")
    assert ids(app_client.get(f"/api/cases?{query}")) == expected


@pytest.mark.parametrize("query", ["status=closed", "state=done", "limit=0", "grid=D01/S01/C01/G01/X", "grid=D 01"])
def test_a_bad_query_is_a_422(app_client: TestClient, query: str) -> None:
    login(app_client, "admin")
    assert app_client.get(f"/api/cases?{query}").status_code == 422


def test_the_workflow_through_the_api_with_timeline_and_downlink(
    app_client: TestClient, clock: FakeClock, downlink: RecordingDownlink
) -> None:
    login(app_client, "comm1")
    url = "/api/cases/evt-smoke-01/actions"
    bad = app_client.post(url, json={"action": "close"})
    assert bad.status_code == 409
    assert bad.json()["detail"] == "cannot close a case that is reported; allowed: verify, reject"
    assert app_client.post(url, json={"action": "fly"}).status_code == 422
    for action, extra in [
        ("verify", {}),
        ("dispatch", {"unit": "fire-1"}),
        ("handle", {"comment": "charger unplugged"}),
        ("close", {}),
        ("evaluate", {"comment": "on time"}),
    ]:
        clock.advance(60)
        response = app_client.post(url, json={"action": action, **extra})
        assert response.status_code == 200, response.text
    detail = app_client.get("/api/cases/evt-smoke-01").json()
    assert detail["case"]["state"] == "evaluated"
    assert detail["case"]["next_actions"] == []
    assert [(s["action"], s["actor"]) for s in detail["steps"]][:2] == [("verify", "comm1"), ("dispatch", "comm1")]
    assert detail["steps"][2]["comment"] == "charger unplugged"
    assert [r["seq"] for r in detail["revisions"]] == [1, 2]
    assert [(a.gateway_id, a.event_id, a.action.value) for a in downlink.sent] == [
        ("gw-01", "evt-smoke-01", "verify"),
        ("gw-01", "evt-smoke-01", "close"),
    ]


def test_figures_count_found_and_closed_and_export_csv(app_client: TestClient, clock: FakeClock) -> None:
    login(app_client, "comm1")
    for action, extra in [
        ("verify", {}),
        ("dispatch", {"unit": "fire-1"}),
        ("handle", {"comment": "done"}),
        ("close", {}),
    ]:
        clock.advance(100)
        app_client.post("/api/cases/evt-smoke-01/actions", json={"action": action, **extra})
    clock.advance(1)
    figures = {(f["by"], f["key"]): f for f in app_client.get("/api/figures").json()}
    fire = figures[("unit", "fire-1")]
    assert (fire["found"], fire["closed"], fire["disposal_rate"], fire["on_time_rate"]) == (1, 1, 1.0, 1.0)
    assert fire["avg_step_s"] == {"dispatched": 100.0, "filed": 100.0, "handled": 100.0, "reported": 110.0}
    grid1 = figures[("grid", "D01/S01/C01/G01")]
    assert (grid1["found"], grid1["closed"], grid1["disposal_rate"]) == (2, 1, 0.5)
    assert ("grid", "D01/S02/C03/G04") not in figures  # outside the community
    rows = list(csv.DictReader(io.StringIO(app_client.get("/api/figures.csv").text)))
    fire_row = next(r for r in rows if (r["by"], r["key"]) == ("unit", "fire-1"))
    assert (fire_row["found"], fire_row["closed"], fire_row["disposal_rate"], fire_row["avg_reported_s"]) == (
        "1",
        "1",
        "1",
        "110",
    )
    page = app_client.get("/figures").text
    assert "处置率 Disposal rate" in page
    assert "100.0%" in page


def test_the_console_pages_are_escaped_bilingual_and_self_contained(app_client: TestClient) -> None:
    login(app_client, "street1")
    page = app_client.get("/").text
    assert '未结案件 / Open cases: <span id="open-count">3</span>' in page
    assert "Goods outside shop" in page
    assert "Smoke &lt;script&gt;" in page
    assert "<script>alert" not in page
    assert "://" not in page  # no CDN assets
    fragment = app_client.get("/fragments/cases?category=" + SHOP).text
    assert fragment.startswith('<section id="live">')
    assert "Goods outside shop" in fragment
    assert "evt-smoke-01" not in fragment
    case = app_client.get("/cases/evt-smoke-01").text
    assert "核实立案 Verify &amp; file" in case
    assert 'id="readings"' in case
    assert 'id="timeline"' in case
    grid = app_client.get("/grid").text
    assert 'data-grid="D01/S01/C01/G01"' in grid


def test_a_refused_console_action_shows_the_reason(app_client: TestClient) -> None:
    login(app_client, "comm1")
    response = post_form(app_client, "/cases/evt-smoke-01/actions", {"action": "close"})
    assert response.status_code == 409
    assert "cannot close a case that is reported" in response.text
    ok = post_form(app_client, "/cases/evt-smoke-01/actions", {"action": "verify"}, follow_redirects=False)
    assert (ok.status_code, ok.headers["location"]) == (303, "/cases/evt-smoke-01")


def test_logout_ends_the_session(app_client: TestClient) -> None:
    login(app_client, "grid1")
    assert app_client.get("/api/cases").status_code == 200
    post_form(app_client, "/logout", {})
    assert app_client.get("/api/cases").status_code == 401


def test_stats_are_scoped(app_client: TestClient) -> None:
    login(app_client, "grid1")
    stats = app_client.get("/api/stats").json()
    # Two cases of grid G01 with two revisions each; the city-wide ingest counters are for admins only.
    assert (stats["cases"], stats["open_cases"], stats["revisions"], stats["received"]) == (2, 2, 4, None)
    assert stats["rejected"] is None
    login(app_client, "admin")
    stats = app_client.get("/api/stats").json()
    assert (stats["cases"], stats["revisions"], stats["received"], stats["rejected"]) == (4, 6, 7, {"bad_payload": 1})


def test_the_change_stream_announces_the_current_version(store: CaseStore) -> None:
    feed = ChangeFeed()
    feed.publish()
    feed.close()  # a closed feed ends the stream after its first notice, so the test can read it whole
    with TestClient(create_app(store, feed=feed), base_url=BASE_URL) as client:
        login(client, "grid1")
        response = client.get("/api/stream")
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = response.text.splitlines()
    assert [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")] == [{"version": 0}]
    assert "retry: 2000" in lines
