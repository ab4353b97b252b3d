"""Every console and API route, asked by the officer of one community about another community's case,
its evidence and its figures: each refuses, and no page or document carries anything of it.

The routes are read from the app itself, so a route added later without a row here fails this test:
classify it below (case-specific, evidence, scoped, own account, admin-only or public).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from starlette.routing import Mount

from gridedge.center.access import Officer, Role
from gridedge.center.api import create_app
from gridedge.center.gateways import GatewayBoard
from gridedge.center.stats import IngestStats
from gridedge.center.store import CaseStore
from gridedge.center.workflow import Action
from gridedge.edge.clock import FakeClock
from tests.center.conftest import BASE_URL, POLICY, add_officers, login
from tests.center.events import make_event

NOW = 1_777_622_400.0
JPEG = b"\xff\xd8 the foreign community's snapshot \xff\xd9"
SHA = hashlib.sha256(JPEG).hexdigest()
FOREIGN_ID = "evt-foreign-1"
OWN_ID = "evt-own-00001"
FOREIGN_CODES = ("D01", "S01", "C02", "G09")
NOWHERE = "evt-nowhere-1"
"""A case that does not exist: the foreign case must get the very same answer (no oracle)."""
# Nothing of the other community may show: its case, title, place, comment, snapshot, grid or unit.
FOREIGN_GATEWAY = "gw-foreign-c02"
MARKERS = (
    FOREIGN_ID,
    "FOREIGN-TITLE",
    "FOREIGN-SITE",
    "FOREIGN-COMMENT",
    SHA,
    "C02",
    "G09",
    "um-s01",
    FOREIGN_GATEWAY,
)

CASE_ROUTES = {
    "/api/cases/{event_id}",
    "/api/cases/{event_id}/actions",
    "/cases/{event_id}",
    "/cases/{event_id}/actions",
}
EVIDENCE_ROUTES = {"/api/evidence/{sha256}", "/api/gateways/{gateway_id}"}
SCOPED_ROUTES = {
    "/",
    "/fragments/cases",
    "/grid",
    "/figures",
    "/api/cases",
    "/api/grid",
    "/api/figures",
    "/api/figures.csv",
    "/api/stats",
    "/api/me",
    "/account",
    "/gateways",
    "/api/gateways",
}
OWN_ACCOUNT_ROUTES = {"/account/password"}
STREAM_ROUTES = {"/api/stream"}
"""Scoped by the change feed: tests/center/test_live.py::test_a_watcher_hears_only_changes_in_its_subtree."""
PUBLIC_ROUTES = {
    "/login",
    "/logout",
    "/api/health",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/static",
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    store = CaseStore(f"sqlite:///{tmp_path / 'centre.db'}", POLICY)
    store.migrate()
    add_officers(store.engine)
    # One gateway serves both communities: evidence must be decided per case, not per gateway.
    own = make_event(OWN_ID, gateway_id="gw-shared", title="OWN-TITLE")
    foreign = make_event(
        FOREIGN_ID,
        gateway_id="gw-shared",
        codes=FOREIGN_CODES,
        title="FOREIGN-TITLE",
        site="FOREIGN-SITE",
        snapshot=JPEG,
        category="street_order.outside_shop_operation",
    )
    store.add_many([own, foreign], received_at=NOW)
    store.add_evidence([(SHA, "gw-shared", JPEG)], received_at=NOW)
    admin = Officer("admin", "Admin", Role.ADMIN, ())
    store.act(admin, FOREIGN_ID, Action.VERIFY, now=NOW + 1, comment="FOREIGN-COMMENT")
    store.act(admin, FOREIGN_ID, Action.DISPATCH, now=NOW + 2, unit="um-s01")
    store.act(admin, OWN_ID, Action.VERIFY, now=NOW + 1)
    store.act(admin, OWN_ID, Action.DISPATCH, now=NOW + 2, unit="fire-1")
    gateways = GatewayBoard()  # the other community's gateway, with a silence set by its installer
    silence = {"id": "s1", "device": "SA-9", "ends_at": NOW + 600, "reason": "FOREIGN-COMMENT", "author": "x"}
    body = {"state": "online", "gateway_id": FOREIGN_GATEWAY, "grid": list(FOREIGN_CODES), "silences": [silence]}
    gateways.update(f"gridedge/v1/status/{FOREIGN_GATEWAY}", json.dumps(body).encode())
    app = create_app(store, stats=IngestStats(received=2, stored=2), clock=FakeClock(NOW + 10), gateways=gateways)
    with TestClient(app, base_url=BASE_URL) as c:
        yield c
    store.close()


def leaks(response: Response) -> list[str]:
    return [m for m in MARKERS if m in response.text]


def routes(client: TestClient) -> list[tuple[str, str]]:
    found = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, APIRoute):
            found += [(method, route.path) for method in sorted(route.methods)]
        elif isinstance(route, Mount):
            found.append(("GET", route.path))
        else:
            found.append(("GET", route.path))  # type: ignore[attr-defined]
    return found


def ask(client: TestClient, method: str, path: str, url: str, csrf: str) -> Response:
    if method != "POST":
        return client.get(url)
    body = {"action": "handle", "comment": "by the wrong community"}
    return client.post(url, json=body) if path.startswith("/api/") else client.post(url, data={**body, "csrf": csrf})


def test_every_route_refuses_the_other_community(client: TestClient) -> None:
    login(client, "comm1")
    csrf = client.headers["X-CSRF-Token"]
    unclassified, checked = [], 0
    for method, path in routes(client):
        if path in PUBLIC_ROUTES or path in STREAM_ROUTES:
            continue
        url = path.format(
            event_id=FOREIGN_ID, sha256=SHA, username="admin", token_id="0" * 16, gateway_id=FOREIGN_GATEWAY
        )
        if path in CASE_ROUTES or path in EVIDENCE_ROUTES:
            r = ask(client, method, path, url, csrf)
            assert r.status_code == 404, (method, path, r.status_code)
            unknown = url.replace(FOREIGN_ID, NOWHERE).replace(SHA, "f" * 64).replace(FOREIGN_GATEWAY, "gw-nowhere")
            absent = ask(client, method, path, unknown, csrf)
            seen = r.text.replace(FOREIGN_ID, NOWHERE).replace(SHA, "f" * 64).replace(FOREIGN_GATEWAY, "gw-nowhere")
            assert seen == absent.text, (method, path)
            checked += 1
            continue
        if path in SCOPED_ROUTES:
            r = client.get(url)
            assert r.status_code == 200, (method, path, r.status_code)
        elif path in OWN_ACCOUNT_ROUTES:
            r = client.post(url, data={"current": "wrong-password", "new": "another-password", "csrf": csrf})
            assert r.status_code == 400, (method, path)
        elif path.startswith("/admin"):
            r = client.post(url, data={"csrf": csrf}) if method == "POST" else client.get(url)
            assert r.status_code in (403, 422), (method, path, r.status_code)
            assert r.status_code == 403 or method == "POST"
        else:
            unclassified.append(f"{method} {path}")
            continue
        checked += 1
        assert leaks(r) == [], f"{method} {path} shows {leaks(r)}"
    assert unclassified == [], f"classify these routes in {__file__}: {unclassified}"
    assert checked >= 20

    # What the officer does see is their own: the own case is listed, the foreign one was not moved.
    assert [c["event_id"] for c in client.get("/api/cases?status=all").json()] == [OWN_ID]
    stats = client.get("/api/stats").json()
    assert (stats["cases"], stats["revisions"], stats["received"]) == (1, 1, None)
    units = {f["key"] for f in client.get("/api/figures").json() if f["by"] == "unit"}
    assert units == {"fire-1"}
    login(client, "admin")
    foreign = client.get(f"/api/cases/{FOREIGN_ID}").json()
    assert foreign["case"]["state"] == "dispatched"
    assert [s["action"] for s in foreign["steps"]] == ["verify", "dispatch"]
    assert client.get(f"/api/evidence/{SHA}").content == JPEG  # the admin's city does include it
    assert client.get(f"/api/gateways/{FOREIGN_GATEWAY}").json()["silences"][0]["reason"] == "FOREIGN-COMMENT"


def test_an_admin_form_posted_by_a_community_officer_changes_nothing(client: TestClient) -> None:
    login(client, "comm1")
    csrf = client.headers["X-CSRF-Token"]
    r = client.post("/admin/officers/grid1/disable", data={"csrf": csrf})
    assert r.status_code == 403
    r = client.post("/admin/tokens", data={"csrf": csrf, "officer": "comm1", "label": "mine", "days": "0"})
    assert r.status_code == 403
    login(client, "grid1")  # still enabled
    assert client.get("/api/me").json()["username"] == "grid1"
