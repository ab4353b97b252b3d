"""The real agent process with its state on a real small filesystem that fills up: it does not crash,
keeps deciding, holds the critical event in memory, says so on /metrics and in its retained status
(seen at the real centre), and delivers the event once space returns, without anyone stepping in."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridedge.devtools.broker import MosquittoProcess
from gridedge.edge.broker import BrokerConfig
from tests.centre_stack import AUTH as CENTRE_AUTH
from tests.disks import fill, small_disk
from tests.gateway.live_agent import running_centre, smoke, start_agent, until, write_config
from tests.gateway.ops_support import AUTH
from tests.servers import free_port

pytestmark = pytest.mark.integration

GATEWAY = "gw-demo-01"
SMOKE_CASES = {"status": "all", "category": "fire_safety.smoke_alarm"}


def metric(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " ") or line.startswith(name + "{"))
    return float(line.rsplit(" ", 1)[1])


async def test_a_full_disk_holds_critical_events_in_memory_and_delivers_them_when_space_returns(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    with small_disk(tmp_path / "state") as disk:
        config = write_config(tmp_path, broker.url, api_port)
        config.write_text(config.read_text().replace(str(tmp_path / "agent"), str(disk)))
        log = tmp_path / "agent.log"
        async with (
            running_centre(BrokerConfig(host="127.0.0.1", port=broker.port), tmp_path) as centre_url,
            httpx.AsyncClient(base_url=centre_url, headers=CENTRE_AUTH, timeout=5) as centre,
            httpx.AsyncClient(base_url=api, headers=AUTH, timeout=5) as local,
        ):
            agent = await start_agent(config, log, api)
            try:

                async def cases() -> list[dict[str, Any]]:
                    found: list[dict[str, Any]] = (await centre.get("/api/cases", params=SMOKE_CASES)).json()
                    return found

                await asyncio.to_thread(smoke, broker.port, "SA-0001", True)
                await until(cases, 15, "a first alarm at the centre, while the disk has room")

                filler = await asyncio.to_thread(fill, disk)
                raised = await asyncio.to_thread(smoke, broker.port, "SA-0002", True)

                async def failing() -> str | None:
                    text = (await local.get("/metrics")).text
                    return text if metric(text, "gridedge_storage_failing") == 1 else None

                text = await until(failing, 15, "/metrics saying storage fails")
                assert metric(text, "gridedge_events_held_in_memory") >= 1

                async def announced() -> dict[str, Any] | None:
                    status: dict[str, Any] = (await centre.get(f"/api/gateways/{GATEWAY}")).json()
                    return status if status.get("storage") and not status["storage"]["ok"] else None

                status = await until(announced, 15, "the retained status saying storage fails, at the centre")
                assert "full" in status["storage"]["error"]
                await asyncio.sleep(3)  # a while with the disk full: the agent keeps running, the event waits
                assert agent.poll() is None
                assert len(await cases()) == 1
                assert (await local.get("/readyz")).status_code == 200

                await asyncio.to_thread(filler.unlink)
                freed = time.monotonic()
                (first, second) = await until(
                    lambda: _two(cases), 15, "the alarm raised on a full disk, at the centre once space returned"
                )
                assert {first["device_id"], second["device_id"]} == {"SA-0001", "SA-0002"}
                late = next(c for c in (first, second) if c["device_id"] == "SA-0002")
                assert late["severity"] == "critical"
                assert abs(_epoch(late["started_at"]) - raised) < 1  # decided when raised, stored later

                async def recovered() -> bool:
                    text = (await local.get("/metrics")).text
                    status = (await centre.get(f"/api/gateways/{GATEWAY}")).json()
                    return metric(text, "gridedge_storage_failing") == 0 and status["storage"]["ok"]

                await until(recovered, 10, "storage reported working again")
                print(f"delivered {time.monotonic() - freed:.1f} s after space returned")  # noqa: T201
            finally:
                agent.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(agent.wait, 20)
        assert code == 0
        assert "Traceback" not in log.read_text()


async def _two(cases: Any) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] = await cases()
    return found if len(found) == 2 else None


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339).timestamp()
