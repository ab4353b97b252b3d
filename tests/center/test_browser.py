"""An officer's day in headless Chromium (Playwright driving Debian's chromium, no browser download):
log in, see a new alarm appear without reloading, take it through all six steps, watch the figures move.

Set GRIDEDGE_SCREENSHOTS=docs/screenshots to refresh the screenshots committed with the docs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from gridedge.center.service import run_center
from gridedge.center.settings import CenterConfig
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.event import Severity
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.center.conftest import POLICY
from tests.center.events import make_event, topic_of
from tests.servers import Mosquitto, free_port

PASSWORD = "community-password"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (./run test installs it)"),
]
playwright_api = pytest.importorskip("playwright.async_api")


async def _centre(broker: Mosquitto, tmp_path: Path) -> AsyncIterator[str]:
    config = CenterConfig.model_validate(
        {
            "broker": BrokerConfig(port=broker.port),
            "database": f"sqlite:///{tmp_path / 'center.db'}",
            "http": {"port": free_port()},
            "policy": POLICY.model_dump(),
            "officers": [
                {
                    "username": "comm1",
                    "name": "张社区 Zhang",
                    "role": "community",
                    "jurisdiction": ["D01", "S01", "C01"],
                    "password": PASSWORD,
                }
            ],
        }
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_center(config, stop=stop, ready=ready))
    try:
        async with asyncio.timeout(15):
            await ready.wait()
        yield f"http://127.0.0.1:{config.http.port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def centre(broker: Mosquitto, tmp_path: Path) -> AsyncIterator[str]:
    async for url in _centre(broker, tmp_path):
        yield url


async def shot(page: object, name: str, tmp_path: Path) -> None:
    """Playwright creates the folder itself."""
    folder = Path(os.environ.get("GRIDEDGE_SCREENSHOTS", tmp_path))
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


async def test_an_officer_takes_a_live_alarm_through_six_steps(centre: str, broker: Mosquitto, tmp_path: Path) -> None:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
            page.set_default_timeout(10_000)
            await page.goto(f"{centre}/")
            assert page.url.endswith("/login")
            await page.fill("input[name=username]", "comm1")
            await page.fill("input[name=password]", PASSWORD)
            await shot(page, "login", tmp_path)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{centre}/")
            await page.wait_for_selector("#conn:has-text('live')")

            # The figures before: nothing found yet.
            figures = await browser.new_page()
            await figures.context.add_cookies(await page.context.cookies())
            await figures.goto(f"{centre}/figures")
            assert await figures.locator("#figures-unit td").first.inner_text() == "无 / none"

            # A new alarm appears on the open list without a reload.
            await page.evaluate("window.stillTheSamePage = true")
            alarm = make_event("evt-browser-01", title="电动车棚烟感报警 Smoke in e-bike shed")
            other = make_event(
                "evt-browser-02",
                category="street_order.outside_shop_operation",
                severity=Severity.MINOR,
                title="店外经营 Goods outside shop",
                codes=("D01", "S01", "C01", "G02"),
            )
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier="browser-test-gateway") as client:
                for event in (alarm, other):
                    await client.publish(topic_of(event), event.to_json(), qos=1)
            row = page.locator("tr[data-case=evt-browser-01]")
            await row.wait_for()
            assert await page.evaluate("window.stillTheSamePage") is True
            await page.locator("tr[data-case=evt-browser-02]").wait_for()
            await shot(page, "case-list", tmp_path)

            await row.locator("a").click()
            await page.wait_for_url(f"{centre}/cases/evt-browser-01")
            assert "已上报 reported" in await page.locator(".facts").inner_text()
            await shot(page, "case", tmp_path)

            steps = [
                ("verify", "", "已立案 filed"),
                ("dispatch", "", "已派遣 dispatched"),
                ("handle", "充电器已断电 车棚通风 charger unplugged, shed ventilated", "已处置 handled"),
                ("close", "现场核查完毕 checked on site", "已结案 closed"),
                ("evaluate", "按时 on time", "已评价 evaluated"),
            ]
            for action, comment, state in steps:
                form = page.locator(f"form[data-action={action}]")
                if comment:
                    await form.locator("textarea").fill(comment)
                if action == "close":  # the alarm never resolved: closing it needs the officer's word
                    await form.locator("input[name=confirm_source_firing]").check()
                await form.locator("button").click()
                await page.locator(f".facts:has-text('{state}')").wait_for()
            timeline = await page.locator("#timeline").inner_text()
            assert "充电器已断电" in timeline
            assert "comm1" in timeline
            assert "fire-1" in timeline  # the unit it was dispatched to
            await shot(page, "case-evaluated", tmp_path)

            await figures.reload()
            unit = figures.locator("#figures-unit tr[data-key=fire-1]")
            assert await unit.locator(".found").inner_text() == "1"
            assert await unit.locator(".closed").inner_text() == "1"
            assert await unit.locator(".disposal").inner_text() == "100.0%"
            await shot(figures, "figures", tmp_path)

            await page.goto(f"{centre}/grid")
            assert await page.locator("li[data-grid='D01/S01/C01/G02'] > .count").inner_text() == "1"
            await shot(page, "grid", tmp_path)
        finally:
            await browser.close()
