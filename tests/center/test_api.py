from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gridedge.center.api import create_app
from gridedge.center.live import ChangeFeed
from gridedge.center.stats import IngestStats
from gridedge.center.store import CaseStore
from gridedge.edge.event import EventStatus, Severity
from tests.center.events import make_event


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaseStore]:
    s = CaseStore(f"sqlite:///{tmp_path / 'center.db'}")
    s.create_schema()
    s.add_many(
        [
            make_event("evt-smoke-01"),
            make_event("evt-smoke-01", seq=2, status=EventStatus.UPDATE, title="Smoke <script>alert(1)</script>"),
            make_event(
                "evt-shop-001",
                category="street_order.outside_shop_operation",
                severity=Severity.MINOR,
                title="Goods outside shop",
                codes=("D01", "S02", "C03", "G04"),
            ),
            make_event("evt-done-001", seq=1),
            make_event("evt-done-001", seq=2, status=EventStatus.RESOLVED),
        ],
        received_at=1_777_622_400.5,
    )
    yield s
    s.close()


@pytest.fixture
def stats() -> IngestStats:
    s = IngestStats(received=7, stored=5, duplicates=1, broker_connected=True)
    s.rejected["bad_payload"] = 1
    return s


@pytest.fixture
def client(store: CaseStore, stats: IngestStats) -> Iterator[TestClient]:
    with TestClient(create_app(store, stats=stats)) as c:
        yield c


def test_health(client: TestClient) -> None:
    assert client.get("/api/health").json() == {"status": "ok", "broker_connected": True}


def test_open_cases_by_default_most_severe_first(client: TestClient) -> None:
    cases = client.get("/api/cases").json()
    assert [(c["event_id"], c["seq"], c["source_status"]) for c in cases] == [
        ("evt-smoke-01", 2, "update"),
        ("evt-shop-001", 1, "firing"),
    ]
    smoke = cases[0]
    assert smoke["grid"]["street"] == {"code": "S01", "name": "新街口街道"}
    assert smoke["category_name"] == "Smoke alarm"
    assert smoke["opened_at"] == "2026-05-01T08:00:00.500000Z"
    assert smoke["started_at"] == "2026-05-01T08:00:00Z"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=resolved", ["evt-done-001"]),
        ("status=all", ["evt-smoke-01", "evt-done-001", "evt-shop-001"]),
        ("status=all&category=street_order.outside_shop_operation", ["evt-shop-001"]),
        ("grid=D01/S02", ["evt-shop-001"]),
        ("status=all&limit=1", ["evt-smoke-01"]),
    ],
)
def test_case_list_filters(client: TestClient, query: str, expected: list[str]) -> None:
    assert sorted(c["event_id"] for c in client.get(f"/api/cases?{query}").json()) == sorted(expected)


@pytest.mark.parametrize("query", ["status=closed", "limit=0", "grid=D01/S01/C01/G01/X", "grid=D 01"])
def test_a_bad_query_is_a_422(client: TestClient, query: str) -> None:
    assert client.get(f"/api/cases?{query}").status_code == 422


def test_a_case_comes_with_its_revisions_and_evidence(client: TestClient) -> None:
    detail = client.get("/api/cases/evt-smoke-01").json()
    assert detail["case"]["seq"] == 2
    revisions = detail["revisions"]
    assert [(r["seq"], r["status"]) for r in revisions] == [(1, "firing"), (2, "update")]
    assert revisions[0]["event"]["schema"] == "gridedge.event/1"
    assert revisions[0]["event"]["evidence"]["readings"][0]["value"] is True
    assert revisions[0]["latency_s"] == pytest.approx(-0.5)


def test_an_unknown_case_is_a_404(client: TestClient) -> None:
    assert client.get("/api/cases/evt-nothing").status_code == 404


def test_stats_count_what_ingest_saw_and_what_is_stored(client: TestClient) -> None:
    assert client.get("/api/stats").json() == {
        "received": 7,
        "stored": 5,
        "duplicates": 1,
        "rejected": {"bad_payload": 1},
        "broker_connected": True,
        "revisions": 5,
        "cases": 3,
        "open_cases": 2,
    }


def test_the_console_lists_open_cases_escaped_and_bilingual(client: TestClient) -> None:
    response = client.get("/")
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "未结案件 / Open cases: 2" in page
    assert "Goods outside shop" in page
    assert "Smoke &lt;script&gt;" in page
    assert "<script>alert" not in page
    assert "evt-done-001" not in page
    assert "://" not in page  # no CDN assets
    fragment = client.get("/fragments/open-cases").text
    assert fragment.startswith('<section id="live">')
    assert "Goods outside shop" in fragment


def test_the_change_stream_announces_the_current_version(store: CaseStore) -> None:
    feed = ChangeFeed()
    feed.publish()
    feed.close()  # a closed feed ends the stream after its first notice, so the test can read it whole
    with TestClient(create_app(store, feed=feed)) as client:
        response = client.get("/api/stream")
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = response.text.splitlines()
    assert [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")] == [{"version": 1}]
    assert "retry: 2000" in lines
