"""The centre end to end: a real Mosquitto, run_center on a free port, the HTTP API as an officer sees it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from sqlalchemy import text

from gridedge.center.access import Role
from gridedge.center.accounts import SESSION_TTL_S, Accounts
from gridedge.center.service import DEAD_LETTER_KEEP_S, housekeeping_forever, run_center
from gridedge.center.settings import CenterConfig
from gridedge.center.store import CaseStore, DeadLetterRow
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.clock import FakeClock
from gridedge.edge.command import ReplayGuard, gateway_key, verify
from gridedge.edge.event import EventStatus
from gridedge.edge.topics import command_topic, event_topic, evidence_topic
from tests.center.events import make_event, topic_of
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration


TOKEN = "service-test-token-0123456789"


def centre_config(broker: Mosquitto, tmp_path: Path, **overrides: Any) -> CenterConfig:
    """A centre with one admin and an API token acting as that admin."""
    return CenterConfig.model_validate(
        {
            "broker": BrokerConfig(port=broker.port),
            "database": f"sqlite:///{tmp_path / 'center.db'}",
            "http": {"port": free_port()},
            "officers": [{"username": "admin", "name": "Admin", "role": "admin", "password": "admin-password"}],
            "api_tokens": [{"officer": "admin", "token": TOKEN}],
            **overrides,
        }
    )


@asynccontextmanager
async def running(config: CenterConfig) -> AsyncIterator[httpx.AsyncClient]:
    """The centre, up and subscribed, and an HTTP client pointed at it."""
    stop, ready = asyncio.Event(), asyncio.Event()
    centre = asyncio.create_task(run_center(config, stop=stop, ready=ready))
    readiness = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait([centre, readiness], timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if centre.done():
            centre.result()
        assert ready.is_set(), "the centre did not get ready in 5 s"
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{config.http.port}", timeout=5, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            yield http
    finally:
        readiness.cancel()
        stop.set()
        await asyncio.wait_for(centre, timeout=8)


async def publish(broker: Mosquitto, *messages: tuple[str, bytes]) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="test-gateway") as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll over HTTP, as an officer's page would, until `check` holds (at most 5 s)."""
    async with asyncio.timeout(5):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


async def stats_show(http: httpx.AsyncClient, **expected: object) -> bool:
    stats = (await http.get("/api/stats")).json()
    return all(stats[k] == v for k, v in expected.items())


async def all_decided(http: httpx.AsyncClient, received: int) -> bool:
    """`received` messages arrived and each was stored, found a duplicate or rejected."""
    stats = (await http.get("/api/stats")).json()
    decided = stats["stored"] + stats["duplicates"] + sum(stats["rejected"].values())
    return bool(stats["received"] == received == decided)


async def test_events_become_cases_and_bad_messages_are_counted_not_stored(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gridedge.center")
    first = make_event("evt-smoke-01")
    forged = make_event("evt-forged-1")
    later = make_event("evt-smoke-01", seq=2, status=EventStatus.RESOLVED)
    other_district = make_event("evt-elsewhere", codes=("D02", "S01", "C01", "G01"))
    async with running(centre_config(broker, tmp_path, jurisdiction=["D01"])) as http:
        await publish(
            broker,
            (topic_of(first), first.to_json()),
            (topic_of(first), first.to_json()),
            (event_topic(("D01", "S09", "C01", "G01"), "gw-01"), forged.to_json()),
            (topic_of(first), b'{"schema": "gridedge.event/1", "event_id": '),
            (topic_of(other_district), other_district.to_json()),
            (topic_of(later), later.to_json()),
        )
        await eventually(lambda: all_decided(http, received=5))  # counted on arrival, stored after the commit
        stats = (await http.get("/api/stats")).json()
        assert (stats["stored"], stats["duplicates"], stats["revisions"]) == (2, 1, 2)
        assert stats["rejected"] == {"topic_mismatch": 1, "bad_payload": 1}

        case = (await http.get("/api/cases/evt-smoke-01")).json()
        assert (case["case"]["seq"], case["case"]["source_status"]) == (2, "resolved")
        assert [r["seq"] for r in case["revisions"]] == [1, 2]
        assert [c["event_id"] for c in (await http.get("/api/cases?source_status=resolved")).json()] == ["evt-smoke-01"]
        assert (await http.get("/api/cases/evt-forged-1")).status_code == 404
        # The source resolved, but the case stays open until an officer closes it.
        assert case["case"]["state"] == "reported"
        assert "evt-smoke-01" in (await http.get("/")).text

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "on gridedge/v1/events/D01/S09/C01/G01/gw-01: topic_mismatch: grid:" in warnings[0]
    assert f"on {topic_of(first)}: bad_payload: (document):" in warnings[1]


async def test_events_published_while_the_centre_is_down_are_delivered_when_it_returns(
    broker: Mosquitto, tmp_path: Path
) -> None:
    config = centre_config(broker, tmp_path)
    before, missed = make_event("evt-before-1"), make_event("evt-missed-1")
    async with running(config) as http:
        await publish(broker, (topic_of(before), before.to_json()))
        await eventually(lambda: stats_show(http, stored=1))
    await publish(broker, (topic_of(missed), missed.to_json()))
    async with running(config) as http:
        await eventually(lambda: stats_show(http, stored=1))
        # Only the missed event came: the one stored before was acknowledged, so not redelivered.
        assert (await http.get("/api/stats")).json()["received"] == 1
        assert sorted(c["event_id"] for c in (await http.get("/api/cases")).json()) == ["evt-before-1", "evt-missed-1"]


async def test_ingest_reconnects_after_the_broker_restarts(broker: Mosquitto, tmp_path: Path) -> None:
    async with running(centre_config(broker, tmp_path)) as http:
        broker.stop()
        await eventually(lambda: stats_show(http, broker_connected=False))
        broker.start()
        await eventually(lambda: stats_show(http, broker_connected=True))
        event = make_event()
        await publish(broker, (topic_of(event), event.to_json()))
        await eventually(lambda: stats_show(http, stored=1))


async def test_the_change_stream_tells_the_console_and_does_not_hold_up_shutdown(
    broker: Mosquitto, tmp_path: Path
) -> None:
    async with running(centre_config(broker, tmp_path)) as http, http.stream("GET", "/api/stream") as stream:
        lines = stream.aiter_lines()
        assert json.loads((await anext(lines)).removeprefix("data: ")) == {"version": 0}
        event = make_event()
        await publish(broker, (topic_of(event), event.to_json()))
        data = [json.loads(line.removeprefix("data: ")) async for line in _until(lines, "data: ")]
        assert data == [{"version": 1}]
    # leaving `running` stopped the centre within its timeout although the stream was still open


async def _until(lines: AsyncIterator[str], prefix: str) -> AsyncIterator[str]:
    async for line in lines:
        if line.startswith(prefix):
            yield line
            return


async def test_cancelling_the_centre_shuts_it_down_cleanly(broker: Mosquitto, tmp_path: Path) -> None:
    config = centre_config(broker, tmp_path)
    ready = asyncio.Event()
    centre = asyncio.create_task(run_center(config, ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    centre.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(centre, 8)
    with pytest.raises(ConnectionRefusedError):  # nothing listens any more
        await asyncio.open_connection("127.0.0.1", config.http.port)


async def test_a_taken_http_port_fails_fast(broker: Mosquitto, tmp_path: Path) -> None:
    config = centre_config(broker, tmp_path)
    with socket.create_server(("127.0.0.1", config.http.port)), pytest.raises(OSError, match="in use"):
        await asyncio.wait_for(run_center(config), 5)


async def test_snapshots_are_kept_by_hash_and_served_with_their_cases(broker: Mosquitto, tmp_path: Path) -> None:
    jpeg = b"\xff\xd8\xff\xe0 a tiny annotated snapshot \xff\xd9"
    sha = hashlib.sha256(jpeg).hexdigest()
    wrong = hashlib.sha256(b"something else").hexdigest()
    event = make_event(snapshot=jpeg)  # a snapshot is served through a case that names it
    async with running(centre_config(broker, tmp_path)) as http:
        await publish(
            broker,
            (evidence_topic("gw-01", sha), jpeg),
            (evidence_topic("gw-01", sha), jpeg),
            (evidence_topic("gw-01", wrong), jpeg),
            (topic_of(event), event.to_json()),
        )
        await eventually(lambda: stats_show(http, received=4, stored=1))
        assert (await http.get("/api/stats")).json()["rejected"] == {"bad_evidence": 1}
        response = await http.get(f"/api/evidence/{sha}")
        assert (response.status_code, response.content) == (200, jpeg)
        assert response.headers["content-type"] == "image/jpeg"
        assert (await http.get(f"/api/evidence/{wrong}")).status_code == 404
        assert (await http.get("/api/evidence/not-a-hash")).status_code == 422


async def test_late_cases_rise_while_the_centre_runs(broker: Mosquitto, tmp_path: Path) -> None:
    policy = {"default_time_limits_s": {"reported": 0.2}}
    event = make_event(category="street_order.outside_shop_operation")
    async with running(centre_config(broker, tmp_path, policy=policy, escalation_check_s=0.1)) as http:
        await publish(broker, (topic_of(event), event.to_json()))

        async def risen() -> bool:
            cases = (await http.get("/api/cases")).json()
            return bool(cases) and cases[0]["level"] == "district"

        await eventually(risen)
        detail = (await http.get(f"/api/cases/{event.event_id}")).json()
        # grid -> community -> street -> district; then it stays at the top, marked late.
        assert {s["action"] for s in detail["steps"]} == {"escalate"}
        assert [s["level"] for s in detail["steps"]][:3] == ["community", "street", "district"]


async def test_verifying_a_case_sends_a_signed_ack_to_its_gateway(broker: Mosquitto, tmp_path: Path) -> None:
    city = bytes(range(32))
    (tmp_path / "city.key").write_text(city.hex() + "\n")
    event = make_event()
    config = centre_config(broker, tmp_path, command_key_file=tmp_path / "city.key")
    async with (
        aiomqtt.Client("127.0.0.1", broker.port, identifier="gw-01") as gateway,
        running(config) as http,
    ):
        await gateway.subscribe(command_topic("gw-01", "+"), qos=1)
        await publish(broker, (topic_of(event), event.to_json()))
        await eventually(lambda: stats_show(http, stored=1))
        url = f"/api/cases/{event.event_id}/actions"
        assert (await http.post(url, json={"action": "verify"})).status_code == 200
        async with asyncio.timeout(5):
            message = await anext(gateway.messages)
        replays = ReplayGuard()
        command = verify(
            gateway_key(city, "gw-01"), message.topic.value, message.payload, now=time.time(), replays=replays
        )
        assert (command.name, command.args) == ("ack", {"event_id": event.event_id, "action": "verify", "by": "admin"})


async def test_housekeeping_purges_expired_sessions_and_old_dead_letters(tmp_path: Path) -> None:
    store = CaseStore(f"sqlite:///{tmp_path / 'center.db'}")
    store.migrate()
    accounts = Accounts(store.engine)
    accounts.add_officer("admin", "Admin", Role.ADMIN, (), "admin-password")
    clock = FakeClock(1_000_000.0)
    stale = accounts.issue(
        "admin", kind="session", label="old", now=clock.now() - 2 * SESSION_TTL_S, ttl_s=SESSION_TTL_S
    )
    fresh = accounts.issue("admin", kind="session", label="new", now=clock.now(), ttl_s=SESSION_TTL_S)
    store.add_dead_letters([DeadLetterRow("t", "bad_payload", "old", b"x")], clock.now() - DEAD_LETTER_KEEP_S - 1)
    store.add_dead_letters([DeadLetterRow("t", "bad_payload", "new", b"x")], clock.now())
    task = asyncio.create_task(housekeeping_forever(accounts, store, 3600, clock))
    try:
        async with asyncio.timeout(5):
            while store.count_dead_letters() != 1:
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.wait([task])
    assert accounts.holder(fresh, now=clock.now()) is not None
    assert [t.token_id for t in accounts.tokens()] == []
    with store.engine.connect() as conn:
        hashes = conn.execute(text("SELECT token_sha256 FROM credentials")).scalars().all()
    assert hashlib.sha256(stale.encode()).hexdigest() not in hashes
    assert [d.detail for d in store.dead_letters()] == ["new"]
    store.close()
