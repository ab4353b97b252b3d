"""The case list with 100,000 open cases (bulk-inserted in one INSERT ... SELECT so the test stays fast):
the console pages through them with totals that follow the filters, the late case is first whatever
its age, the live fragment stays one page, and a search finds one case among them all."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gridedge.center.api import create_app
from gridedge.center.store import CaseStore
from gridedge.edge.clock import FakeClock
from tests.center.conftest import BASE_URL, POLICY, add_officers, login

CASES = 100_000
NOW = 1.8e9
BULK = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO cases (event_id, shown_event_id, seq, source_status, category, severity, severity_rank, title,
  district_code, district_name, street_code, street_name, community_code, community_name, grid_code, grid_name,
  site, address, gateway_id, device_id, started_at, observed_at, opened_at, updated_at, last_seen_at,
  state, level, state_since, due_at, escalations, reopened, occurrences)
SELECT printf('evt-bulk-%08d', i), printf('evt-bulk-%08d', i), 1, 'firing',
  CASE i % 2 WHEN 0 THEN 'fire_safety.smoke_alarm' ELSE 'street_order.outside_shop_operation' END,
  CASE i % 4 WHEN 0 THEN 'critical' WHEN 1 THEN 'major' WHEN 2 THEN 'minor' ELSE 'info' END, i % 4,
  'Bulk case', 'D01', '', 'S01', '', CASE WHEN i % 10 = 0 THEN 'C02' ELSE 'C01' END, '',
  printf('G%02d', i % 50 + 1), '', 'Block', printf('%d Willow Road', i), 'gw-bulk', printf('SA-%06d', i),
  :t0 + i, :t0 + i, :t0 + i, :t0 + i, :t0 + i,
  CASE i % 4 WHEN 0 THEN 'reported' WHEN 1 THEN 'filed' WHEN 2 THEN 'dispatched' ELSE 'handled' END,
  'community', :t0 + i, :now + i, 0, 0, 1
FROM n
"""


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaseStore]:
    folder: Path = tmp_path_factory.mktemp("scale")
    store = CaseStore(f"sqlite:///{folder / 'centre.db'}", POLICY)
    store.migrate()
    add_officers(store.engine)
    with store.engine.begin() as conn:
        conn.execute(text(BULK), {"count": CASES, "t0": NOW - 200_000, "now": NOW})
        # The oldest case of all, a minor one, rose for being late: it must not be buried under 100,000.
        conn.execute(
            text(
                "UPDATE cases SET severity = 'info', severity_rank = 3, escalations = 1, level = 'street' "
                "WHERE event_id = 'evt-bulk-00000001'"
            )
        )
    store.refresh_statistics()  # as the centre does at start and every ten minutes
    yield store
    store.close()


@pytest.fixture
def client(big_store: CaseStore) -> Iterator[TestClient]:
    with TestClient(create_app(big_store, clock=FakeClock(NOW)), base_url=BASE_URL) as c:
        yield login(c, "comm1")


def test_the_list_pages_through_100000_cases_with_the_late_one_first(client: TestClient) -> None:
    in_community = CASES - CASES // 10  # one case in ten is in the neighbouring community C02
    started = time.perf_counter()
    page = client.get("/").text
    elapsed = time.perf_counter() - started
    assert f'showing 1\N{EN DASH}50 of <span id="total">{in_community}</span>' in page
    rows = re.findall(r'<tr data-case="([^"]+)"', page)
    assert len(rows) == 50
    assert rows[0] == "evt-bulk-00000001"
    assert "1 late or escalated, listed first" in page
    last = client.get(f"/?page={in_community // 50}").text
    assert len(re.findall(r'<tr data-case="', last)) == 50
    assert f"page {in_community // 50} of {in_community // 50}" in last
    assert elapsed < 5, f"the first page took {elapsed:.2f} s"


def test_totals_follow_the_filters_and_search_finds_one_case(client: TestClient) -> None:
    critical = client.get("/fragments/cases?severity=critical&category=fire_safety.smoke_alarm").text
    assert 'of <span id="total">20000</span>' in critical  # i % 4 == 0 outside C02 (i % 10 == 0)
    assert len(re.findall(r'<tr data-case="', critical)) == 50
    found = client.get("/fragments/cases?q=77777+Willow").text
    assert re.findall(r'<tr data-case="([^"]+)"', found) == ["evt-bulk-00077777"]
    device = client.get("/api/cases?q=SA-012345&total=true")
    assert [c["event_id"] for c in device.json()] == ["evt-bulk-00012345"]
    assert device.headers["X-Total-Count"] == "1"


def test_every_sort_order_answers_a_page(client: TestClient) -> None:
    for sort in ("priority", "severity", "newest", "oldest", "due", "occurrences", "updated"):
        response = client.get(f"/api/cases?sort={sort}&limit=50&total=true")
        assert response.status_code == 200, sort
        assert len(response.json()) == 50, sort
        assert response.headers["X-Total-Count"] == str(CASES - CASES // 10), sort
