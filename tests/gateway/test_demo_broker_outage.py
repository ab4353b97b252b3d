"""`gridedge demo` rides through broker restarts: the real command, run as a user would, on a real
Mosquitto (persistence on) that is stopped and started again twice while the demo runs.

The demo must exit 0, and every incident must reach the centre with all its revisions, seq 1..n
without a gap; a listener on the broker (persistent session) checks the same from the wire. The
outages themselves raise nothing: no alarm but the one the scenario silences is reported offline.

Bounded in the suite (a 60 s demo, two 10 s outages). The issue's full run, a 120 s demo with two
20 s outages, is the same test with GRIDEDGE_OUTAGE_DEMO_S=120 GRIDEDGE_OUTAGE_S=20.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridedge.center.settings import DEMO_LOGIN
from tests.outage import Listener, restartable_broker, running
from tests.security.centre import logged_in
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

DEMO_S = float(os.environ.get("GRIDEDGE_OUTAGE_DEMO_S", "60"))
OUTAGE_S = float(os.environ.get("GRIDEDGE_OUTAGE_S", "10"))
KILL = os.environ.get("GRIDEDGE_OUTAGE_KILL") == "1"
"""SIGKILL instead of a service stop. Mosquitto then keeps only its last autosave (none in the first
30 min by default; deploy/mosquitto sets 60 s): a centre session younger than that is lost, and a
revision the gateway publishes before the centre has subscribed again is acknowledged and dropped by
the broker. A limit of the broker's durability that this variant shows; not run in the suite."""
FIRST_OUTAGE_AT = 15.0  # after the smoke alarm (10 s), over SA-0004 falling silent (20 s) and the clear (25 s)


def kill(broker: Mosquitto) -> None:
    assert broker.process is not None
    broker.process.kill()
    broker.process.wait()
    broker.process = None


def events_at(at_centre: dict[str, list[int]], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The revisions heard on the wire that the centre holds."""
    return [e for e in events if e["seq"] in at_centre.get(e["event_id"], [])]


async def centre_incidents(port: int) -> dict[str, list[int]]:
    """Every incident at the centre, with the seqs of the revisions it holds, as an officer sees them."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        await logged_in(http, *DEMO_LOGIN)
        listed = await http.get("/api/cases", params={"status": "all"})
        listed.raise_for_status()
        found: dict[str, list[int]] = {}
        for case in listed.json():  # a case folds every incident of its hazard: each revision names its own
            detail: dict[str, Any] = (await http.get(f"/api/cases/{case['event_id']}")).json()
            for revision in detail["revisions"]:
                found.setdefault(revision["event_id"], []).append(revision["seq"])
        return {event_id: sorted(seqs) for event_id, seqs in found.items()}


async def test_the_demo_rides_through_two_broker_restarts(tmp_path: Path) -> None:
    http_port = free_port()
    log = tmp_path / "demo.log"
    async with (
        restartable_broker(tmp_path / "broker") as broker,
        running(Listener(broker, ["gridedge/v1/events/#"], client_id="test-wire")) as wire,
    ):
        command = ["demo", "--broker", broker.url, "--duration", str(DEMO_S), "--http-port", str(http_port)]
        with log.open("wb") as out:
            demo = subprocess.Popen(  # noqa: ASYNC220 - waited for below, off the event loop
                [sys.executable, "-m", "gridedge", *command], stdout=out, stderr=subprocess.STDOUT
            )
        try:
            async with asyncio.timeout(60):  # the scenario's clock starts when the demo says it runs
                while "GridEdge demo running" not in log.read_text():
                    assert demo.poll() is None, log.read_text()[-3000:]
                    await asyncio.sleep(0.1)
            started = time.monotonic()
            second_at = FIRST_OUTAGE_AT + OUTAGE_S + max(10.0, OUTAGE_S)
            for at in (FIRST_OUTAGE_AT, second_at):
                await asyncio.sleep(max(0.0, started + at - time.monotonic()))
                await asyncio.to_thread(kill if KILL else Mosquitto.stop, broker)
                await asyncio.sleep(OUTAGE_S)
                await asyncio.to_thread(broker.start)
            # Just before the demo ends (its centre's database goes with it), what the officer sees.
            await asyncio.sleep(max(0.0, started + DEMO_S - 4 - time.monotonic()))
            checked_at = time.monotonic()
            at_centre = await centre_incidents(http_port)
            code = await asyncio.to_thread(demo.wait, 30)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    on_wire: dict[str, set[int]] = {}
    for heard in wire.heard:
        if heard.at > checked_at - 1.0:
            continue  # published as the centre was asked: it may be stored a moment later
        event = json.loads(heard.payload)
        on_wire.setdefault(event["event_id"], set()).add(event["seq"])
    events = [json.loads(h.payload) for h in wire.heard]
    categories = [e["category"] for e in events]
    assert "fire_safety.smoke_alarm" in categories  # the demo's scenario did happen
    assert any(e["category"] == "fire_safety.smoke_alarm" for e in events_at(at_centre, events))
    offline = {e["source"]["device_id"] for e in events if e["category"] == "device.offline"}
    assert offline <= {"SA-0004"}, "the broker's outage was taken for devices going offline"  # SA-0004 fell silent
    assert set(on_wire) <= set(at_centre), "an incident on the wire never reached the centre"
    revisions = sum(len(seqs) for seqs in at_centre.values())
    figures = f"{len(at_centre)} incidents, {revisions} revisions at the centre; on the wire {Counter(categories)}"
    print(f"demo {DEMO_S:.0f} s, outages 2 x {OUTAGE_S:.0f} s: {figures}")  # noqa: T201 - for a run by hand (-s)
    for event_id, seqs in at_centre.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"{event_id}: revisions {seqs} have a gap"
        assert on_wire.get(event_id, set()) <= set(seqs), f"{event_id}: centre {seqs}, wire {on_wire[event_id]}"
