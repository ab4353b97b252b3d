"""The officers' console in headless Chromium (Playwright driving Debian's chromium) at a desk
(1400x900) and on a grid officer's phone (390x844), on the demo's grid map:

- a case taken from report to evaluation, with a photo attached at the unit's feedback;
- every page fits the phone's width, passes axe-core (vendored from npm, run in the page) with no
  serious or critical violation, and is screenshotted at both sizes;
- the map draws the demo's cells and a new case appears on it live;
- the real gateway agent killed with SIGKILL shows offline on the Gateways page (its last will) and
  its offline case appears.

Set GRIDEDGE_SCREENSHOTS=docs/screenshots to refresh the screenshots committed with the docs.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import cv2
import numpy as np
import pytest
import yaml

from bench.scenarios.e2e import Publisher, agent_settings
from gridedge.center.service import run_center
from gridedge.center.settings import CenterConfig
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.event import Evidence, EvidenceReading, GridEvent, Severity, Snapshot
from gridedge.edge.grid import GridCell, GridUnit
from gridedge.edge.topics import evidence_topic
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.center.conftest import POLICY
from tests.center.events import T0, make_event, topic_of
from tests.servers import Mosquitto, free_port

ROOT = Path(__file__).parents[2]
DEMO_MAP = ROOT / "examples" / "demo-grid.geojson"
AXE = ROOT / "tests" / "vendor" / "axe.min.js"
PASSWORD = "community-password"
COMMUNITY = ("D01", "S03", "C12")
DESK = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = {"desktop": DESK, "phone": PHONE}
OFFLINE_CASE_S = 2.0

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (./run test installs it)"),
]
playwright_api = pytest.importorskip("playwright.async_api")


def demo_event(event_id: str, grid: str = "G07", **kw: Any) -> GridEvent:
    e = make_event(event_id, codes=(*COMMUNITY, grid), **kw)  # type: ignore[arg-type]
    cell = GridCell(
        district=GridUnit(code="D01", name="Demo District"),
        street=GridUnit(code="S03", name="Riverside Street"),
        community=GridUnit(code="C12", name="柳树社区 Willow Community"),
        grid=GridUnit(code=grid, name=f"第{int(grid[1:])}网格 Grid {int(grid[1:])}"),
    )
    return e.model_copy(update={"grid": cell})


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (320, 240)) -> bytes:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[:] = colour
    cv2.rectangle(image, (40, 40), (size[0] - 40, size[1] - 40), (255, 255, 255), 4)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


@pytest.fixture
async def centre(broker: Mosquitto, tmp_path: Path) -> AsyncIterator[str]:
    config = CenterConfig.model_validate(
        {
            "broker": BrokerConfig(port=broker.port),
            "database": f"sqlite:///{tmp_path / 'center.db'}",
            "http": {"port": free_port()},
            "policy": POLICY.model_dump(),
            "console": {"grid_map": str(DEMO_MAP), "gateway_offline_case_s": OFFLINE_CASE_S},
            "officers": [
                {
                    "username": "willow",
                    "name": "柳社区 Liu",
                    "role": "community",
                    "jurisdiction": list(COMMUNITY),
                    "password": PASSWORD,
                },
                {
                    "username": "admin",
                    "name": "管理员 Admin",
                    "role": "admin",
                    "jurisdiction": [],
                    "password": PASSWORD,
                },
            ],
        }
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_center(config, stop=stop, ready=ready))
    try:
        async with asyncio.timeout(20):
            await ready.wait()
        yield f"http://127.0.0.1:{config.http.port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def logged_in(
    chromium: Any, centre: str, viewport: dict[str, int], *, axe: bool = False, username: str = "willow"
) -> Any:
    """`axe`: bypass the content security policy, which forbids the script tag axe-core comes in by;
    the other pages run under the centre's policy, as an officer's browser does."""
    context = await chromium.new_context(viewport=viewport, locale="zh-CN", bypass_csp=axe)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    await page.goto(f"{centre}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{centre}/")
    return page


async def publish(broker: Mosquitto, *events: GridEvent, blobs: tuple[tuple[str, bytes], ...] = ()) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"console-test-{os.getpid()}") as client:
        for topic, blob in blobs:
            await client.publish(topic, blob, qos=1)
        for e in events:
            await client.publish(topic_of(e), e.to_json(), qos=1)


async def fits_width(page: Any) -> None:
    scroll, inner = await page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{page.url}: {scroll} px wide in a {inner} px viewport"


async def accessible(page: Any) -> None:
    await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`)"""
    )
    assert found == [], f"{page.url}: {found}"


async def shot(page: Any, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("GRIDEDGE_SCREENSHOTS", tmp_path))
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_a_case_goes_from_report_to_evaluation_with_a_photo_at_feedback(
    size: str, centre: str, broker: Mosquitto, chromium: Any, tmp_path: Path
) -> None:
    page = await logged_in(chromium, centre, SIZES[size], axe=True)
    await page.wait_for_selector("#conn:has-text('live')")
    await page.evaluate("window.stillTheSamePage = true")
    await publish(broker, demo_event("evt-ui-0001", title="电动车棚烟感报警 Smoke in e-bike shed"))
    row = page.locator("tr[data-case=evt-ui-0001]")
    await row.wait_for()
    assert await page.evaluate("window.stillTheSamePage") is True  # appeared live, no reload
    await fits_width(page)
    await row.locator("td.title a").click()
    await page.wait_for_url(f"{centre}/cases/evt-ui-0001")
    photo = tmp_path / "shed-after.jpg"
    photo.write_bytes(jpeg((30, 120, 30)))
    for action, comment in [
        ("verify", ""),
        ("dispatch", ""),
        ("handle", "充电器已断电 车棚通风 charger unplugged, shed ventilated"),
        ("close", "现场核查完毕 checked on site"),
        ("evaluate", "按时 on time"),
    ]:
        form = page.locator(f"form[data-action={action}]")
        if comment:
            await form.locator("textarea").fill(comment)
        if action == "handle":
            await form.locator("input[type=file]").set_input_files(str(photo))
        if action == "close":  # the smoke alarm never said `resolved`: closing asks the officer to confirm
            confirm = form.locator("input[name=confirm_source_firing]")
            assert await confirm.get_attribute("required") is not None
            await confirm.check()
        await fits_width(page)
        await form.locator("button[type=submit]").click()
        await page.wait_for_load_state()
        assert not await page.locator("#error").count(), await page.locator("#error").inner_text()
    facts = await page.locator(".facts").inner_text()
    assert "已评价 evaluated" in facts
    picture = page.locator("ul.photos img")
    assert await picture.count() == 1
    await picture.scroll_into_view_if_needed()
    assert await picture.evaluate("img => img.complete && img.naturalWidth") == 320
    timeline = await page.locator("#timeline").inner_text()
    assert "充电器已断电" in timeline
    assert "closed on confirmation while the source still fired" in timeline
    await fits_width(page)
    await accessible(page)


async def test_every_page_fits_a_phone_passes_axe_and_is_screenshotted(
    centre: str, broker: Mosquitto, chromium: Any, tmp_path: Path
) -> None:
    snapshot = jpeg((40, 40, 160), (640, 360))
    sha = hashlib.sha256(snapshot).hexdigest()
    seen = demo_event("evt-ui-cam01", grid="G05", device_id="cam-7", category="street_order.outside_shop_operation")
    seen = seen.model_copy(
        update={
            "title": "店外经营 Goods outside shop",
            "severity": Severity.MINOR,
            "evidence": Evidence(
                readings=[
                    EvidenceReading(device_id="cam-7", point="dwell", value=312.5, unit="s", ts=seen.ended_at or T0)
                ],
                snapshot=Snapshot(sha256=sha, size=len(snapshot), width=640, height=360),
            ),
        }
    )
    others = [demo_event(f"evt-ui-{i:04d}", grid=f"G0{1 + i % 9}", device_id=f"smoke-{i}") for i in range(1, 8)]
    await publish(broker, seen, *others, blobs=((evidence_topic("gw-01", sha), snapshot),))
    pages = {
        "cases": "/",
        "case": "/cases/evt-ui-cam01",
        "map": "/map",
        "grid": "/grid",
        "charts": "/charts",
        "figures": "/figures",
        "gateways": "/gateways",
        "account": "/account",
        "not-found": "/cases/no-such-case",
    }
    admin_pages = {
        "admin": "/admin",
        "admin-tokens": "/admin/tokens",
        "admin-audit": "/admin/audit",
        "admin-dead-letters": "/admin/dead-letters",
    }
    for size, viewport in SIZES.items():
        page = await logged_in(chromium, centre, viewport, axe=True)
        await page.locator("tr[data-case=evt-ui-cam01]").wait_for()
        for name, path in pages.items():
            await page.goto(f"{centre}{path}")
            await page.wait_for_load_state("networkidle")
            if name == "case":
                assert await page.locator("figure.evidence img").evaluate("img => img.naturalWidth") == 640
                assert "312.5 s" in await page.locator("#readings").inner_text()
            if size == "phone":
                await fits_width(page)
            await accessible(page)
            await shot(page, f"{name}-{size}", tmp_path)
        await page.context.close()
        page = await logged_in(chromium, centre, viewport, axe=True, username="admin")
        for name, path in admin_pages.items():
            await page.goto(f"{centre}{path}")
            await page.wait_for_load_state("networkidle")
            if size == "phone":
                await fits_width(page)
            await accessible(page)
            await shot(page, f"{name}-{size}", tmp_path)
        await page.context.clear_cookies()
        await page.goto(f"{centre}/login")
        if size == "phone":
            await fits_width(page)
        await accessible(page)
        await shot(page, f"login-{size}", tmp_path)
        await page.context.close()


async def test_the_map_draws_the_demo_cells_and_a_case_appears_on_it_live(
    centre: str, broker: Mosquitto, chromium: Any
) -> None:
    page = await logged_in(chromium, centre, DESK)
    await page.goto(f"{centre}/map")
    await page.wait_for_selector("#conn:has-text('live')")
    cells = page.locator("#cells tbody tr")
    await page.locator("#cells tr[data-grid='D01/S03/C12/G09']").wait_for()
    assert await cells.count() == 9  # every cell of the demo's community, from examples/demo-grid.geojson
    assert await page.evaluate("window.gridMap.getOption().series[0].data.length") == 9
    assert await page.locator("#cells tr[data-grid='D01/S03/C12/G04']").get_attribute("data-open") == "0"
    await publish(broker, demo_event("evt-ui-map01", grid="G04"))
    await page.locator("#cells tr[data-grid='D01/S03/C12/G04'][data-open='1']").wait_for()
    worst = await page.evaluate(
        "window.gridMap.getOption().series[0].data.find(d => d.name === 'D01/S03/C12/G04').worst"
    )
    assert worst == "critical"
    await page.locator("#cells tr[data-grid='D01/S03/C12/G04'] a").click()
    await page.wait_for_url("**/?grid=D01%2FS03%2FC12%2FG04")
    assert await page.locator("tr[data-case=evt-ui-map01]").count() == 1


async def test_a_killed_gateway_shows_offline_and_its_case_appears(
    centre: str, broker: Mosquitto, chromium: Any, tmp_path: Path
) -> None:
    """The real agent, killed with SIGKILL: the broker publishes its last will at once (the socket
    closes), the Gateways page shows it offline, and after OFFLINE_CASE_S its case is listed."""
    settings = agent_settings(
        "gw-willow",
        f"mqtt://127.0.0.1:{broker.port}",
        tmp_path / "agent",
        [{"id": "SA-0001", "profile": "generic-smoke-alarm", "location": {"site": "Block 1"}}],
    )
    levels = ("district", "street", "community", "grid")
    settings["gateway"]["grid"] = {lv: {"code": c} for lv, c in zip(levels, (*COMMUNITY, "G07"), strict=True)}  # type: ignore[index]
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump(settings))
    log = (tmp_path / "agent.log").open("wb")
    command = [sys.executable, "-m", "gridedge", "agent", "--config", str(config)]
    agent = await asyncio.to_thread(subprocess.Popen, command, stderr=log)
    publisher = None
    try:
        page = await logged_in(chromium, centre, DESK)
        publisher = await asyncio.to_thread(Publisher, broker.port)
        alarm = page.locator("tr[data-case] td:has-text('SA-0001')")
        for _ in range(60):  # the agent starts, subscribes, and its first alarm places it in the grid
            publisher.states["SA-0001"] = False
            publisher.publish("SA-0001", "alarm")
            publisher.states["SA-0001"] = True
            publisher.publish("SA-0001", "alarm")
            try:
                await alarm.first.wait_for(timeout=1000)
                break
            except playwright_api.TimeoutError:
                continue
        await page.goto(f"{centre}/gateways")
        row = page.locator("tr[data-gateway=gw-willow]")
        await row.locator(".presence:has-text('online')").wait_for(timeout=15_000)
        agent.send_signal(signal.SIGKILL)
        await asyncio.to_thread(agent.wait, 5)
        killed = asyncio.get_running_loop().time()
        await row.locator(".presence:has-text('offline')").wait_for(timeout=10_000)
        assert "lost" in await row.locator(".presence").inner_text()  # the last will, not a clean stop
        assert asyncio.get_running_loop().time() - killed < 10
        await row.locator(".presence a").wait_for(timeout=15_000)  # its case, raised after OFFLINE_CASE_S
        await row.locator(".presence a").click()
        assert "网关离线 Gateway gw-willow offline" in await page.locator("h1").inner_text()
        await fits_width(page)
    finally:
        if publisher is not None:
            await asyncio.to_thread(publisher.close)
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            await asyncio.to_thread(agent.wait, 15)
        log.close()
