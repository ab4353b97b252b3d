"""What a gateway (or anyone who got onto the broker) sends to the centre: NUL bytes, 10 MB
payloads, deep JSON, invalid UTF-8, on every topic the centre reads, and revisions of another
gateway's event. Real Mosquitto and real PostgreSQL: every one is refused and kept as a dead letter,
acknowledged, and ingest keeps flowing; the original case is unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bench import postgres
from gridedge.center.tables import Case, DeadLetter, Revision
from gridedge.edge.topics import evidence_topic
from tests.center.events import make_event, topic_of
from tests.pg import PostgresCluster
from tests.security.centre import ADMIN_PASSWORD, centre_config, eventually, logged_in, publish, running
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

TEN_MB = 10 * 1024 * 1024


def body(**changes: object) -> dict[str, object]:
    event: dict[str, object] = json.loads(make_event("evt-hostile-01").to_json())
    event.update(changes)
    return event


def hostile_messages() -> list[tuple[str, bytes, str]]:
    """(topic, payload, the reason the centre must give) for each kind of hostile input."""
    topic = topic_of(make_event())
    nul_title = json.dumps(body(title="smoke\u0000alarm")).encode()
    nul_device = json.loads(nul_title)
    nul_device["title"] = "ok"
    nul_device["source"]["device_id"] = "dev\u0000ice"
    deep = b'{"a":' * 5_000 + b"1" + b"}" * 5_000  # 30 kB, 5000 levels: the parser's depth limit, not the size
    jpeg = b"\xff\xd8 snapshot \xff\xd9"
    raw_surrogate = json.dumps(body(title="lone \ud800"), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return [
        (topic, nul_title, "bad_characters"),
        (topic, json.dumps(nul_device).encode(), "bad_characters"),
        (topic, b'{"title": "raw \x00 NUL"}', "bad_payload"),
        (topic, b"x" * TEN_MB, "oversize"),
        (topic, b'{"title": "' + b"\xff\xfe\xc3\x28" + b'"}', "bad_encoding"),
        (topic, deep, "bad_payload"),
        (topic, json.dumps(body(title="lone \ud800 surrogate")).encode(), "bad_payload"),  # as a \\ud800 escape
        (topic, raw_surrogate, "bad_encoding"),
        (topic, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "oversize"),
        (topic, b"\x00" * 64, "bad_payload"),
        (evidence_topic("gw-01", hashlib.sha256(jpeg).hexdigest()), b"\x00" * TEN_MB, "bad_evidence"),
        (evidence_topic("gw-01", "0" * 64), b"\xff\xfe not the hashed bytes", "bad_evidence"),
        (evidence_topic("gw\u00e9<x>", hashlib.sha256(jpeg).hexdigest()), jpeg, "bad_topic"),
    ]


@pytest.fixture
def pg_url(pg: PostgresCluster) -> str:
    return pg.fresh_database()


async def stats(http: httpx.AsyncClient) -> dict[str, object]:
    response = await http.get("/api/stats")
    assert response.status_code == 200
    result: dict[str, object] = response.json()
    return result


async def test_poison_on_every_topic_is_dead_lettered_and_ingest_keeps_flowing(broker: Mosquitto, pg_url: str) -> None:
    hostile = hostile_messages()
    before, after = make_event("evt-before-01"), make_event("evt-after-001")
    async with running(centre_config(broker.port, pg_url)) as base, httpx.AsyncClient(base_url=base) as http:
        await logged_in(http, "admin", ADMIN_PASSWORD)
        await publish(
            broker.port,
            (topic_of(before), before.to_json()),
            *((topic, payload) for topic, payload, _ in hostile),
            (topic_of(after), after.to_json()),
        )
        await eventually(lambda: _stored(http, 2), within=20)
        counts = (await stats(http))["rejected"]
        assert isinstance(counts, dict)
        expected: dict[str, int] = {}
        for _, _, reason in hostile:
            expected[reason] = expected.get(reason, 0) + 1
        assert counts == expected
        page = (await http.get("/admin/dead-letters")).text
        assert f"messages refused for good, acknowledged so ingest moves on: {len(hostile)}" in page
        assert "smoke\\x00alarm" in page or "contains the control character U+0000" in page
    engine = create_engine(pg_url)
    try:
        with Session(engine) as session:
            letters = list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))
            assert sorted(d.reason for d in letters) == sorted(reason for _, _, reason in hostile)
            assert max(d.size for d in letters) == TEN_MB
            assert max(len(d.payload) for d in letters) <= 4096  # only the head of 10 MB junk is kept
            assert set(session.scalars(select(Case.event_id))) == {before.event_id, after.event_id}
    finally:
        engine.dispose()


async def _stored(http: httpx.AsyncClient, n: int) -> bool:
    return (await stats(http))["stored"] == n


async def test_a_gateway_cannot_revise_another_gateways_event(broker: Mosquitto, pg_url: str) -> None:
    original = make_event("evt-victim-01", gateway_id="gw-01", title="Smoke in shed 3")
    # gw-02, in another community, publishes a "newer revision" of it on its own (ACL-allowed) topic.
    hijack = make_event(
        "evt-victim-01", seq=9, gateway_id="gw-02", codes=("D01", "S01", "C02", "G07"), title="nothing here"
    )
    # And gw-01 itself may not move its event to another grid either.
    moved = make_event("evt-victim-01", seq=10, gateway_id="gw-01", codes=("D01", "S01", "C01", "G02"))
    follow_up = make_event("evt-victim-01", seq=2, gateway_id="gw-01", title="Smoke in shed 3, still")
    async with running(centre_config(broker.port, pg_url)) as base, httpx.AsyncClient(base_url=base) as http:
        await logged_in(http, "admin", ADMIN_PASSWORD)
        await publish(broker.port, (topic_of(original), original.to_json()))
        await eventually(lambda: _stored(http, 1))
        await publish(broker.port, *((topic_of(e), e.to_json()) for e in (hijack, moved, follow_up)))
        await eventually(lambda: _stored(http, 2))
        counts = (await stats(http))["rejected"]
        assert counts == {"foreign_gateway": 1, "moved_grid": 1}
        case = (await http.get("/api/cases/evt-victim-01")).json()
        assert case["case"]["gateway_id"] == "gw-01"
        assert [u["code"] for u in case["case"]["grid"].values()] == ["D01", "S01", "C01", "G01"]
        assert (case["case"]["seq"], case["case"]["title"]) == (2, "Smoke in shed 3, still")
        assert [r["seq"] for r in case["revisions"]] == [1, 2]
        page = (await http.get("/admin/dead-letters")).text
        assert "foreign_gateway" in page
        assert "moved_grid" in page
    engine = create_engine(pg_url)
    try:
        with Session(engine) as session:
            assert set(session.scalars(select(Revision.gateway_id))) == {"gw-01"}
    finally:
        engine.dispose()


def _pg_ctl(cluster: PostgresCluster, *args: str) -> None:
    """Stop or start the test's own PostgreSQL (the options are the cluster's own, as it started)."""
    data = cluster.root / "data"
    options = f"-p {cluster.port} -k {cluster.root / 'sock'} -h 127.0.0.1 -c max_connections=200"
    command = [postgres._exe("pg_ctl"), "-D", str(data), "-l", str(cluster.root / "postgres.log"), "-o", options]
    subprocess.run([*command, "-w", *args], check=True, capture_output=True, **postgres._as_owner())


async def test_a_database_outage_is_waited_out_and_nothing_is_lost(broker: Mosquitto) -> None:
    if not postgres.available():
        pytest.skip("PostgreSQL binaries (initdb, postgres) are not installed")
    first, during = make_event("evt-before-out"), make_event("evt-during-out")
    with postgres.postgres_cluster(durable=True) as cluster:  # fsync on: a stop -m immediate loses no commit
        url = cluster.fresh_database()
        async with running(centre_config(broker.port, url)) as base, httpx.AsyncClient(base_url=base) as http:
            await logged_in(http, "admin", ADMIN_PASSWORD)
            await publish(broker.port, (topic_of(first), first.to_json()))
            await eventually(lambda: _stored(http, 1))
            _pg_ctl(cluster, "-m", "immediate", "stop")
            await publish(broker.port, (topic_of(during), during.to_json()))
            await asyncio.sleep(2)  # ingest retries with backoff; the message stays unacknowledged
            health = (await http.get("/api/health")).json()
            assert health["broker_connected"] is True
            _pg_ctl(cluster, "start")
            await eventually(lambda: _stored(http, 2), within=30)
            ids = {c["event_id"] for c in (await http.get("/api/cases?status=all")).json()}
            assert ids == {first.event_id, during.event_id}
