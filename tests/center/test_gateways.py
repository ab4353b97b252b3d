"""Gateways' retained status at the centre: silences and held incidents, scoped by jurisdiction, and
refused when the message is not a fitting status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gridedge.center.access import Officer, Role
from gridedge.center.api import create_app
from gridedge.center.gateways import GatewayBoard, StatusRefusedError
from gridedge.center.store import CaseStore
from tests.center.conftest import BASE_URL, POLICY, add_officers, login, post_form

GRID1 = Officer("grid1", "Wang", Role.GRID, ("D01", "S01", "C01", "G01"))
GRID2 = Officer("grid2", "Li", Role.GRID, ("D01", "S01", "C01", "G02"))
ADMIN = Officer("admin", "Admin", Role.ADMIN, ())
SILENCE = {"id": "a1", "device": "SA-1", "ends_at": 1.8e9, "reason": "detector replaced", "author": "li.wei"}


def status(gateway: str = "gw-1", **more: object) -> bytes:
    body = {"state": "online", "gateway_id": gateway, "version": "0.1.0", "grid": ["D01", "S01", "C01", "G01"]}
    return json.dumps(body | more).encode()


def test_silences_and_held_counts_are_kept_per_gateway_for_those_who_see_it() -> None:
    board = GatewayBoard()
    board.update("gridedge/v1/status/gw-1", status(silences=[SILENCE], held={"silenced": 1}, extra="ignored"))
    (seen,) = board.visible(GRID1)
    assert [(s.device, s.author, s.reason) for s in seen.silences] == [("SA-1", "li.wei", "detector replaced")]
    assert seen.held == {"silenced": 1}
    assert board.visible(GRID2) == []
    assert board.get(GRID2, "gw-1") is None
    assert board.get(ADMIN, "gw-1") == seen


def test_the_last_will_keeps_the_grid_already_known() -> None:
    board = GatewayBoard()
    board.update("gridedge/v1/status/gw-1", status())
    will = json.dumps({"state": "offline", "gateway_id": "gw-1", "version": "0.1.0", "reason": "lost"}).encode()
    board.update("gridedge/v1/status/gw-1", will)
    (seen,) = board.visible(GRID1)
    assert (seen.state, seen.reason, seen.silences) == ("offline", "lost", [])


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        ("gridedge/v1/status/gw-2", status("gw-1"), "names gateway 'gw-1'"),
        ("gridedge/v1/status/gw-1", b"not json", "Invalid JSON"),
        ("gridedge/v1/status/gw-1", status(silences=[{"id": "x"}]), "silences.0.ends_at"),
        ("gridedge/v1/status/gw-1", status(silences=[SILENCE] * 1001), "silences"),
    ],
)
def test_a_status_that_does_not_fit_is_refused_and_counted(topic: str, payload: bytes, why: str) -> None:
    board = GatewayBoard()
    with pytest.raises(StatusRefusedError, match=why):
        board.update(topic, payload)
    assert board.refused == 1
    assert board.visible(ADMIN) == []


@pytest.fixture
def board() -> GatewayBoard:
    board = GatewayBoard()
    board.update("gridedge/v1/status/gw-1", status(silences=[SILENCE], held={"silenced": 1}))
    evil = {**SILENCE, "id": "a2", "reason": "<script>alert(1)</script>"}
    board.update("gridedge/v1/status/gw-2", status("gw-2", grid=["D01", "S01", "C01", "G02"], silences=[evil]))
    return board


@pytest.fixture
def client(tmp_path: Path, board: GatewayBoard) -> Iterator[TestClient]:
    store = CaseStore(f"sqlite:///{tmp_path / 'center.db'}", POLICY)
    store.migrate()
    add_officers(store.engine)
    with TestClient(create_app(store, gateways=board), base_url=BASE_URL) as c:
        yield c
    store.close()


def test_the_gateway_page_and_api_show_silences_to_the_officers_of_the_gateways_grid(client: TestClient) -> None:
    login(client, "grid1")
    page = client.get("/gateways")
    assert page.status_code == 200
    assert 'data-gateway="gw-1"' in page.text
    assert "li.wei: detector replaced" in page.text
    assert "已屏蔽 silenced 1" in page.text
    assert "gw-2" not in page.text  # another grid's gateway
    assert [g["gateway_id"] for g in client.get("/api/gateways").json()] == ["gw-1"]
    assert client.get("/api/gateways/gw-2").status_code == 404
    post_form(client, "/logout", {})
    login(client, "admin")
    page = client.get("/gateways")
    assert "&lt;script&gt;" in page.text
    assert "<script>alert" not in page.text
