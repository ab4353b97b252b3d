"""A silence an installer sets through the local API of the real agent process: refused when longer than
the gateway's maximum; otherwise it holds the smoke alarm back, survives kill -9 and a restart, is
shown at the real centre with who set it and why, and ends on time, when the held alarm is published
with its real start."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridedge.devtools.broker import MosquittoProcess
from gridedge.edge.broker import BrokerConfig
from tests.centre_stack import AUTH as CENTRE_AUTH
from tests.gateway.live_agent import running_centre, smoke, start_agent, until, write_config
from tests.gateway.ops_support import AUTH
from tests.servers import free_port

pytestmark = pytest.mark.integration

GATEWAY = "gw-demo-01"
ALARM = "SA-0001"
SILENCE_S = 25.0
MAX_SILENCE_S = 600
SMOKE_CASES = {"status": "all", "category": "fire_safety.smoke_alarm"}  # the demo's other alarms go offline


async def test_a_silence_survives_kill_9_shows_at_the_centre_and_ends_on_time(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    config = write_config(tmp_path, broker.url, api_port, max_silence_s=MAX_SILENCE_S)
    log = tmp_path / "agent.log"
    async with (
        running_centre(BrokerConfig(host="127.0.0.1", port=broker.port), tmp_path) as centre_url,
        httpx.AsyncClient(base_url=centre_url, headers=CENTRE_AUTH, timeout=5) as centre,
        httpx.AsyncClient(base_url=api, headers=AUTH, timeout=5) as local,
    ):
        agent = await start_agent(config, log, api)
        try:
            too_long = {
                "device": ALARM,
                "ends_at": datetime.fromtimestamp(time.time() + 2 * MAX_SILENCE_S, tz=UTC).isoformat(),
                "reason": "detector replaced",
                "author": "installer.zhao",
            }
            refused = await local.post("/api/silences", json=too_long)
            assert refused.status_code == 422
            assert f"a silence may last at most {MAX_SILENCE_S} s" in refused.json()["detail"]

            ends_at = time.time() + SILENCE_S
            body = too_long | {"ends_at": datetime.fromtimestamp(ends_at, tz=UTC).isoformat()}
            added = await local.post("/api/silences", json=body)
            assert added.status_code == 200, added.text
            silence_id = added.json()["id"]
            started = await asyncio.to_thread(smoke, broker.port, ALARM, True)

            async def shown_at_centre() -> dict[str, Any] | None:
                got = await centre.get(f"/api/gateways/{GATEWAY}")
                found = got.json() if got.status_code == 200 else None
                return found if found and found["held"].get("silenced") == 1 else None

            status = await until(shown_at_centre, 15, "the silence and the held alarm in the centre's gateway view")
            assert [(s["id"], s["device"], s["author"], s["reason"]) for s in status["silences"]] == [
                (silence_id, ALARM, "installer.zhao", "detector replaced")
            ]
            assert (await centre.get("/api/cases", params=SMOKE_CASES)).json() == []  # held, not shown

            agent.send_signal(signal.SIGKILL)
            await asyncio.to_thread(agent.wait, 10)
            agent = await start_agent(config, log, api)
            kept = (await local.get("/api/silences")).json()
            assert [(s["id"], s["author"], round(s["ends_at"], 3)) for s in kept] == [
                (silence_id, "installer.zhao", round(ends_at, 3))
            ]
            await asyncio.sleep(max(0.0, ends_at - time.time() - 2))
            assert (await centre.get("/api/cases", params=SMOKE_CASES)).json() == []  # still held

            async def published() -> list[dict[str, Any]]:
                cases: list[dict[str, Any]] = (await centre.get("/api/cases", params=SMOKE_CASES)).json()
                return cases

            (case,) = await until(published, 10, "the held alarm published when the silence ended")
            arrived = time.time()
            assert ends_at <= arrived <= ends_at + 6  # ended on time (the clock ticks every second)
            assert (case["device_id"], case["source_status"]) == (ALARM, "firing")
            assert abs(datetime.fromisoformat(case["started_at"]).timestamp() - started) < 1  # its real start

            async def silence_gone() -> bool:
                got = (await centre.get(f"/api/gateways/{GATEWAY}")).json()
                return got["silences"] == [] and not got["held"].get("silenced")

            await until(silence_gone, 10, "the ended silence gone from the centre's gateway view")
            assert (await local.get("/api/silences")).json() == []
        finally:
            agent.send_signal(signal.SIGTERM)
            await asyncio.to_thread(agent.wait, 20)
