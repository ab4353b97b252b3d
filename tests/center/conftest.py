"""Centre fixtures: the same store tests on SQLite and on a real PostgreSQL, officers of two grids."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from gridedge.center.access import Role
from gridedge.center.accounts import Accounts
from gridedge.center.api import create_app
from gridedge.center.downlink import RecordingDownlink
from gridedge.center.policy import Policy
from gridedge.center.stats import IngestStats
from gridedge.center.store import CaseStore
from gridedge.center.web import CSRF_HEADER
from gridedge.edge.clock import FakeClock
from gridedge.edge.event import EventStatus, Severity
from tests.center.events import make_event
from tests.pg import PostgresCluster, available, postgres_cluster

POLICY = Policy.model_validate(
    {
        "levels": {"fire_safety": "community"},
        "time_limits_s": {
            "fire_safety.smoke_alarm": {"reported": 300, "filed": 600, "dispatched": 3600, "handled": 1800}
        },
        "units": [
            {"code": "fire-1", "name": "消防站 Fire station 1"},
            {"code": "um-s01", "name": "城管中队 Urban management S01", "jurisdiction": ["D01", "S01"]},
        ],
        "dispatch": [{"category": "fire_safety", "unit": "fire-1"}, {"category": "street_order", "unit": "um-s01"}],
    }
)
PASSWORD = "correct horse battery"
CHEAP_HASHES = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""Tests create many officers: full-cost argon2 takes half a second a hash on a small machine."""


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresCluster]:
    if not available():
        pytest.skip("PostgreSQL binaries (initdb, postgres) are not installed")
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'center.db'}"
    cluster: PostgresCluster = request.getfixturevalue("pg")
    return cluster.fresh_database()


@pytest.fixture
def any_store(database_url: str) -> Iterator[CaseStore]:
    """A migrated store on each backend, with the test policy."""
    s = CaseStore(database_url, POLICY)
    s.migrate()
    yield s
    s.close()


def add_officers(engine: Engine) -> None:
    """Two grid officers of neighbouring grids, their community and street, and an admin."""
    accounts = Accounts(engine, CHEAP_HASHES)
    accounts.add_officer("grid1", "王网格 Wang", Role.GRID, ("D01", "S01", "C01", "G01"), PASSWORD)
    accounts.add_officer("grid2", "李网格 Li", Role.GRID, ("D01", "S01", "C01", "G02"), PASSWORD)
    accounts.add_officer("comm1", "张社区 Zhang", Role.COMMUNITY, ("D01", "S01", "C01"), PASSWORD)
    accounts.add_officer("street1", "赵街道 Zhao", Role.STREET, ("D01", "S01"), PASSWORD)
    accounts.add_officer("admin", "管理员 Admin", Role.ADMIN, (), PASSWORD)


BASE_URL = "https://testserver"
"""The session cookie is Secure: the test client sends it over https only, like a browser."""


# The console and API around a SQLite store with five cases in three grids (test_api, tests/security).
SHOP = "street_order.outside_shop_operation"
NOW = 1_777_622_400.5
TOKEN = "integration-token-0123456789abcdef"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaseStore]:
    s = CaseStore(f"sqlite:///{tmp_path / 'center.db'}", POLICY)
    s.migrate()
    add_officers(s.engine)
    Accounts(s.engine).register("street1", TOKEN, kind="api", label="city platform")
    s.add_many(
        [
            make_event("evt-smoke-01"),
            make_event("evt-smoke-01", seq=2, status=EventStatus.UPDATE, title="Smoke <script>alert(1)</script>"),
            make_event(
                "evt-shop-001",
                category=SHOP,
                severity=Severity.MINOR,
                title="Goods outside shop",
                codes=("D01", "S01", "C01", "G02"),
            ),
            make_event("evt-other-01", title="Other street", codes=("D01", "S02", "C03", "G04")),
            make_event("evt-done-001", seq=1, category=SHOP, severity=Severity.MINOR),
            make_event("evt-done-001", seq=2, status=EventStatus.RESOLVED, category=SHOP, severity=Severity.MINOR),
        ],
        received_at=NOW,
    )
    yield s
    s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW + 10)


@pytest.fixture
def downlink() -> RecordingDownlink:
    return RecordingDownlink()


@pytest.fixture
def app_client(store: CaseStore, clock: FakeClock, downlink: RecordingDownlink) -> Iterator[TestClient]:
    stats = IngestStats(received=7, stored=6, duplicates=1, broker_connected=True)
    stats.rejected["bad_payload"] = 1
    with TestClient(create_app(store, stats=stats, clock=clock, downlink=downlink), base_url=BASE_URL) as c:
        yield c


def form_token(html: str) -> str:
    """The CSRF token of the first form of a page, as the browser would send it."""
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    """Log in through the login form; later JSON calls send the session's CSRF header, as a page script does."""
    token = form_token(client.get("/login").text)
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    client.headers[CSRF_HEADER] = form_token(client.get("/grid").text)
    return client


def post_form(client: TestClient, url: str, data: dict[str, str], **kwargs: Any) -> Response:
    """Post a console form with the session's CSRF token, as the page's form does."""
    return client.post(url, data={**data, "csrf": client.headers[CSRF_HEADER]}, **kwargs)
