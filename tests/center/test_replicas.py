"""Two centre replicas on one Mosquitto share the load through an MQTT 5 shared subscription and one
PostgreSQL database: every event becomes exactly one case, and both replicas did part of the work."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.scenarios.centre import ingest_run
from tests.pg import PostgresCluster
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

EVENTS = 10_000


def test_two_replicas_make_ten_thousand_cases_none_twice(
    broker: Mosquitto, pg: PostgresCluster, tmp_path: Path
) -> None:
    """Each replica is its own `gridedge center` process, as deployed."""
    url = pg.fresh_database()
    result = ingest_run(tmp_path, broker.port, url, replicas=2, count=EVENTS, limit_s=90)
    assert (result.cases, result.revisions) == (EVENTS, EVENTS)
    assert sum(result.stored) + result.duplicates == EVENTS
    assert sum(result.received) >= EVENTS
    assert all(r > EVENTS // 10 for r in result.received), f"one replica idled: {result.received}"
    engine = create_engine(url)
    with engine.connect() as conn:
        doubles = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT event_id FROM event_revisions"
                " GROUP BY event_id, seq HAVING count(*) > 1) AS doubles"
            )
        ).scalar_one()
        reported = conn.execute(
            text("SELECT count(DISTINCT event_id) FROM cases WHERE state = 'reported'")
        ).scalar_one()
    engine.dispose()
    assert (doubles, reported) == (0, EVENTS)
