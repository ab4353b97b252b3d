"""Script in every field an officer sees, rendered in headless Chromium: nothing runs, the text shows.

Each hostile string would bump `window.__xss` if the browser ever ran it. The pages are checked for
that counter, for alert dialogs, and for the string shown literally (which proves it was escaped,
not merely stopped by the content security policy). A page on another port of 127.0.0.1 is the
same *site* for the browser, so SameSite=Strict cookies go with its forged form: only the CSRF
token stops it, and the test shows that it does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from gridedge.edge.topics import evidence_topic
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.center.events import make_event, topic_of
from tests.security.centre import ADMIN_PASSWORD, PASSWORD, centre_config, eventually, publish, running
from tests.servers import Mosquitto

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (./run test installs it)"),
]
playwright_api = pytest.importorskip("playwright.async_api")

BUMP = "window.__xss=(window.__xss||0)+1"
IMG = f'<img src=x onerror="{BUMP}">'
SCRIPT = f"<script>{BUMP}</script>"
SVG = f'"><svg onload="{BUMP}">'
QUOTE = f"' onmouseover='{BUMP}' x='"


def hostile_event() -> bytes:
    """A valid event whose every shown text field carries script (the event id is a pattern; no room)."""
    body: dict[str, Any] = json.loads(make_event("evt-hostile-1", title=f"Smoke {IMG}", site=SCRIPT).to_json())
    body["location"]["address"] = SVG
    body["source"]["device_id"] = f"dev{QUOTE}"
    body["grid"]["community"]["name"] = f"社区{IMG}"
    body["grid"]["grid"]["name"] = f"网格{SCRIPT}"
    reading = body["evidence"]["readings"][0]
    reading.update(device_id=f"dev{SVG}", point=f"p{IMG}", value=SCRIPT, unit=QUOTE)
    return json.dumps(body).encode()


async def assert_nothing_ran(page: Any, *shown: str) -> None:
    assert await page.evaluate("window.__xss") is None, f"a script ran on {page.url}"
    text = await page.locator("body").inner_text()
    for literal in shown:
        assert literal in text, f"{literal!r} is not shown as text on {page.url}"


async def log_in(page: Any, base: str, username: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/")


async def test_script_in_every_shown_field_stays_text(broker: Mosquitto, tmp_path: Path) -> None:
    config = centre_config(broker.port, f"sqlite:///{tmp_path / 'centre.db'}", secure_cookies=True)
    async with running(config) as base:
        await publish(
            broker.port,
            (topic_of(make_event("evt-hostile-1")), hostile_event()),
            (evidence_topic("gw-01", "0" * 64), SCRIPT.encode()),  # refused: a dead letter with script in it
            (topic_of(make_event("evt-hostile-2")), f'{{"title": "{SCRIPT}"}}'.encode()),  # refused too
        )
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context()
                page = await context.new_page()
                page.set_default_timeout(10_000)
                dialogs: list[str] = []
                page.on("dialog", lambda d: dialogs.append(d.message))
                await log_in(page, base, "comm1", PASSWORD)
                await page.locator("tr[data-case=evt-hostile-1]").wait_for()
                await assert_nothing_ran(page, IMG, SCRIPT, SVG)

                await page.goto(f"{base}/cases/evt-hostile-1")
                await assert_nothing_ran(page, IMG, SCRIPT, SVG, QUOTE)
                form = page.locator("form[data-action=verify]")
                await form.locator("textarea").fill(f"核实 {IMG} {SCRIPT} {SVG}")
                await form.locator("button").click()
                await page.locator(".facts:has-text('已立案 filed')").wait_for()
                await assert_nothing_ran(page, f"核实 {IMG} {SCRIPT} {SVG}")

                await page.goto(f"{base}/grid")
                await assert_nothing_ran(page, f"社区{IMG}", f"网格{SCRIPT}")
                await page.goto(f"{base}/figures")
                await assert_nothing_ran(page)

                await page.goto(f"{base}/cases/{quote(IMG, safe='')}")  # the reflected XSS of issue 14
                await assert_nothing_ran(page, IMG)
                await page.goto(f"{base}/{quote(SCRIPT, safe='')}")
                await assert_nothing_ran(page, "未找到 / Not found")

                admin = await (await browser.new_context()).new_page()
                admin.on("dialog", lambda d: dialogs.append(d.message))
                await log_in(admin, base, "admin", ADMIN_PASSWORD)
                await admin.goto(f"{base}/admin/dead-letters")
                await eventually(lambda: admin.locator("#dead-letters tr[data-reason]").count(), within=5)
                await admin.reload()
                await assert_nothing_ran(admin, SCRIPT, "bad_evidence", "bad_payload")
                await admin.goto(f"{base}/admin/audit")
                await assert_nothing_ran(admin)
                assert dialogs == []
            finally:
                await browser.close()


async def test_a_forged_form_from_the_same_site_is_refused(broker: Mosquitto, tmp_path: Path) -> None:
    config = centre_config(broker.port, f"sqlite:///{tmp_path / 'centre.db'}", secure_cookies=True)
    async with running(config) as base:
        await publish(broker.port, (topic_of(make_event("evt-target-01")), make_event("evt-target-01").to_json()))
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                page.set_default_timeout(10_000)
                await log_in(page, base, "comm1", PASSWORD)
                await page.locator("tr[data-case=evt-target-01]").wait_for()
                # Another port of the same host: the same site, so the Strict session cookie goes along.
                evil = "http://127.0.0.1:9/evil.html"
                forged = (
                    f'<form id="f" method="post" action="{base}/cases/evt-target-01/actions">'
                    '<input name="action" value="reject"><input name="comment" value="forged"></form>'
                    '<script>document.getElementById("f").submit()</script>'
                )
                await page.route(evil, lambda route: route.fulfill(body=forged, content_type="text/html"))
                async with page.expect_response(f"{base}/cases/evt-target-01/actions") as answer:
                    await page.goto(evil)
                response = await answer.value
                assert response.status == 403
                assert "表单已失效" in await page.locator("#error").inner_text()
                await page.goto(f"{base}/cases/evt-target-01")
                assert "已上报 reported" in await page.locator(".facts").inner_text()
                assert "forged" not in await page.locator("#timeline").inner_text()
            finally:
                await browser.close()
