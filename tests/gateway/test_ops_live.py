"""A running agent seen from outside: the installer's API and live stream, Prometheus metrics, and
telemetry to a real time-series server that goes away while alarms keep flowing."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import httpx
import pytest

from gridedge.gateway.agent import Agent
from gridedge.gateway.ops_settings import TelemetryConfig
from gridedge.simulators.smoke_alarm import SmokeAlarm
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.gateway.ops_support import AUTH, NEEDS_VICTORIA_METRICS, VictoriaMetrics, gateway_config
from tests.servers import Mosquitto, free_port

pytestmark = [pytest.mark.integration, NEEDS_VICTORIA_METRICS]
log = logging.getLogger(__name__)

OUTAGE_S = float(os.environ.get("GRIDEDGE_TEST_OUTAGE_S", "20"))  # the minute: GRIDEDGE_TEST_OUTAGE_S=60
NUMERIC_POINTS = 6  # of the smoke alarm profile's 7: `message` is text, not telemetry


@dataclass
class Live:
    agent: Agent
    http: httpx.AsyncClient
    device: aiomqtt.Client
    vm: VictoriaMetrics
    events: asyncio.Queue[tuple[float, dict[str, object]]] = field(default_factory=asyncio.Queue)
    sent: dict[str, list[int]] = field(default_factory=dict)  # device -> message timestamps (ms)

    async def send(self, alarm: SmokeAlarm, event: str = "heartbeat") -> float:
        now = time.time()
        await self.device.publish(f"bridge/smoke/{alarm.key}/up", alarm.message(event, now), qos=1)
        self.sent.setdefault(alarm.key, []).append(int(now * 1000))
        return now


async def _collect_events(client: aiomqtt.Client, live: Live) -> None:
    async for message in client.messages:
        live.events.put_nowait((time.time(), json.loads(bytes(message.payload))))  # type: ignore[arg-type]


@pytest.fixture
async def live(broker: Mosquitto, tmp_path: Path) -> AsyncIterator[Live]:
    vm = VictoriaMetrics(tmp_path)
    await asyncio.to_thread(vm.start)
    telemetry = TelemetryConfig.model_validate({"url": vm.url, "flush_interval_s": 0.2, "timeout_s": 1})
    agent = Agent(gateway_config(tmp_path, broker.url, api_port=free_port(), telemetry=telemetry))
    stop = asyncio.Event()
    try:
        async with (
            asyncio.TaskGroup() as tg,
            aiomqtt.Client("127.0.0.1", broker.port, identifier="test-centre") as centre,
            aiomqtt.Client("127.0.0.1", broker.port, identifier="test-bridge") as device,
        ):
            await centre.subscribe("gridedge/v1/events/#", qos=1)
            tg.create_task(agent.run(stop))
            await asyncio.wait_for(agent.ops.api_ready.wait(), 10)
            host, port = agent.ops.api_address or ("", 0)
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}", headers=AUTH) as http:
                async with asyncio.timeout(10):
                    while (await http.get("/readyz")).status_code != 200:
                        await asyncio.sleep(0.05)
                the_live = Live(agent, http, device, vm)
                collector = tg.create_task(_collect_events(centre, the_live))
                try:
                    yield the_live
                finally:
                    collector.cancel()
                    stop.set()
    finally:
        await asyncio.to_thread(vm.stop)


async def test_the_installer_sees_devices_events_and_metrics_live(live: Live) -> None:
    alarm, quiet = SmokeAlarm("SA-0002"), SmokeAlarm("SA-0003")
    async with live.http.stream("GET", "/api/stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        await live.send(quiet)
        alarm.smoke = True
        await live.send(alarm, "alarm")
        kinds: list[str] = []
        async with asyncio.timeout(10):
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    kinds.append(line.split(":", 1)[1].strip())
                if line.startswith("data:") and kinds[-1] == "event":
                    event = json.loads(line.split(":", 1)[1])
                    break
    assert event["device_id"] == "SA-0002"
    assert event["status"] == "firing"
    assert "reading" in kinds

    devices = {d["id"]: d for d in (await live.http.get("/api/devices")).json()}
    assert devices["SA-0002"]["state"] == "online"
    assert devices["SA-0002"]["points"]["smoke"]["value"] is True
    assert devices["SA-0003"]["points"]["battery"]["value"] == 95.0
    assert devices["SA-0001"]["state"] == "never_seen"

    metrics = (await live.http.get("/metrics")).text
    assert 'gridedge_events_total{category="fire_safety.smoke_alarm",status="firing"} 1.0' in metrics
    assert 'gridedge_readings_in_total{driver="mqtt"} 14.0' in metrics
    assert "gridedge_outbox_depth" in metrics
    assert 'gridedge_uplink_state{state="connected"} 1.0' in metrics
    assert "process_resident_memory_bytes" in metrics


async def _alarm_latencies(live: Live, alarm: SmokeAlarm, seconds: float, chatter: list[SmokeAlarm]) -> list[float]:
    """Toggle an alarm twice a second while other devices chatter; latency = event at the broker - reading."""
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(5):
            for other in chatter:
                await live.send(other)
            await asyncio.sleep(0.1)
        alarm.smoke = not alarm.smoke
        sent = await live.send(alarm, "alarm" if alarm.smoke else "clear")
        async with asyncio.timeout(10):
            while True:
                received, event = await live.events.get()
                if event["source"]["device_id"] == alarm.key:  # type: ignore[index]
                    break
        latencies.append(received - sent)
    return latencies


async def test_alarms_keep_flowing_while_the_time_series_server_is_away(live: Live) -> None:
    vm = live.vm
    alarm = SmokeAlarm("SA-0001")
    chatter = [SmokeAlarm(f"SA-000{i}") for i in range(2, 6)]
    before = await _alarm_latencies(live, alarm, 5, chatter)

    # Half the outage the server hangs (writes time out), half it is gone (connections refused).
    assert vm.process is not None
    outage_from = int(time.time() * 1000)
    vm.process.send_signal(signal.SIGSTOP)
    hung = await _alarm_latencies(live, alarm, OUTAGE_S / 2, chatter)
    vm.process.send_signal(signal.SIGCONT)
    await asyncio.to_thread(vm.stop)
    gone = await _alarm_latencies(live, alarm, OUTAGE_S / 2, chatter)
    outage_to = int(time.time() * 1000)
    sink = live.agent.ops.telemetry
    assert sink is not None
    assert sink.counters["write_errors"] > 0
    assert sink.buffered > 0

    await asyncio.to_thread(vm.start)
    async with asyncio.timeout(30):
        while sink.buffered:
            await asyncio.sleep(0.2)
    during = [ts for ts_list in live.sent.values() for ts in ts_list if outage_from <= ts <= outage_to]
    stored_during: set[tuple[str, str, int]] = set()
    async with asyncio.timeout(15):  # VictoriaMetrics makes what it accepted searchable within a second or so
        while len(stored_during) < NUMERIC_POINTS * len(during):
            stored = {(m["device"], m["point"], ts) for m, _, ts in await asyncio.to_thread(vm.samples)}
            stored_during = {s for s in stored if outage_from <= s[2] <= outage_to}
            await asyncio.sleep(0.5)
    assert len(stored_during) == NUMERIC_POINTS * len(during)
    assert sink.counters["dropped"] == 0

    during_outage = hung + gone
    ms = [round(x * 1000, 1) for x in (statistics.median(before), max(before))]
    ms += [round(x * 1000, 1) for x in (statistics.median(during_outage), max(during_outage))]
    log.info("alarm latency ms p50/max: before %s/%s, %.0f s outage %s/%s", ms[0], ms[1], OUTAGE_S, ms[2], ms[3])
    log.info("telemetry points from the outage written after the server returned: %d", len(stored_during))
    assert len(during_outage) >= OUTAGE_S  # two alarm revisions a second, none lost
    assert statistics.median(during_outage) <= statistics.median(before) + 0.05
    assert max(during_outage) < 1.0


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
async def test_installer_page_in_headless_chromium(live: Live, tmp_path: Path) -> None:
    """Log in with the token, see the device table and a live alarm, all from the gateway itself.

    GRIDEDGE_SCREENSHOTS=docs/screenshots refreshes docs/screenshots/installer.png."""
    playwright = pytest.importorskip("playwright.async_api")
    base = str(live.http.base_url).rstrip("/")
    requested: list[str] = []
    async with playwright.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_default_timeout(10_000)
            page.on("request", lambda request: requested.append(request.url))
            await page.goto(f"{base}/#token=never-read-from-the-url")
            assert "#" not in page.url  # a token in the URL would stay in the history: the page clears it
            await page.fill("#token", AUTH["Authorization"].removeprefix("Bearer "))
            await page.click("#login button[type=submit]")
            await page.locator("#devices tbody tr").nth(4).wait_for()
            await page.wait_for_selector("#link:has-text('live')")

            for i in (1, 3, 4, 5):
                await live.send(SmokeAlarm(f"SA-000{i}"))
            alarm = SmokeAlarm("SA-0002", smoke=True)
            await live.send(alarm, "alarm")
            await page.locator("#events li", has_text="FIRING Smoke alarm").wait_for()
            await page.wait_for_selector("#device-count:has-text('5 / 5 在线 online')")
            await page.wait_for_selector("#uplink-state:has-text('connected')")
            row = await page.locator("tr[data-device=SA-0002]").inner_text()
            assert "online" in row
            assert "smoke=true" in row

            # The installer's actions (bilingual page): silence a device for maintenance, reload the config.
            await page.select_option("#silence-device", "SA-0004")
            await page.fill("#silence-reason", "更换电池 battery change")
            await page.fill("#silence-author", "installer.zhao")
            await page.click("#silence button[type=submit]")
            await page.locator("#silences li", has_text="SA-0004").wait_for()
            assert "更换电池 battery change" in await page.locator("#silences").inner_text()
            assert "installer.zhao" in await page.locator("#silences").inner_text()
            await page.click("#reload")
            await page.wait_for_selector("#reload-result:has-text('reloaded')")
            # Test a device: a message decoded with its profile, nothing stored.
            await page.select_option("#sample-device", "SA-0003")
            await page.fill("#sample-payload", '{"state": {"smoke": true, "tamper": false}}')
            await page.click("#sample button[type=submit]")
            await page.wait_for_selector("#sample-result:has-text('smoke = true')")
            assert "缺少 absent" in await page.locator("#sample-result").inner_text()

            folder = Path(os.environ.get("GRIDEDGE_SCREENSHOTS", tmp_path))
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            await page.screenshot(path=str(folder / "installer.png"), full_page=True)
            await page.locator("#silences li", has_text="SA-0004").locator("button").click()  # ended early
            await page.locator("#silences li", has_text="无 none").wait_for()
        finally:
            await browser.close()
    assert requested
    assert all(url.startswith(base) for url in requested), "the page must work offline: no external assets"
