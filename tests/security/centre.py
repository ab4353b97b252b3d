"""A real grid centre for the hostile-input tests: run_center on a real broker, HTTP on a free port."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiomqtt
import httpx

from gridedge.center.service import run_center
from gridedge.center.settings import CenterConfig
from gridedge.center.web import CSRF_HEADER
from tests.center.conftest import POLICY
from tests.servers import free_port

PASSWORD = "community-password"
ADMIN_PASSWORD = "admin-password"
OFFICERS = [
    {"username": "comm1", "name": "张社区 Zhang", "role": "community", "jurisdiction": ["D01", "S01", "C01"]},
    {"username": "admin", "name": "管理员 Admin", "role": "admin", "jurisdiction": []},
]


def centre_config(broker_port: int, database: str, *, secure_cookies: bool = False, **overrides: Any) -> CenterConfig:
    """`secure_cookies` stays off for httpx over plain HTTP (it never sends a Secure cookie there);
    Chromium treats 127.0.0.1 as a secure context, so the browser tests keep the production default."""
    officers = [{**o, "password": ADMIN_PASSWORD if o["role"] == "admin" else PASSWORD} for o in OFFICERS]
    return CenterConfig.model_validate(
        {
            "broker": {"port": broker_port},
            "database": database,
            "http": {"port": free_port(), "secure_cookies": secure_cookies},
            "policy": POLICY.model_dump(),
            "officers": officers,
            **overrides,
        }
    )


@asynccontextmanager
async def running(config: CenterConfig) -> AsyncIterator[str]:
    """The centre, subscribed and listening; yields its base URL."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_center(config, stop=stop, ready=ready))
    waiting = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait([task, waiting], timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        assert ready.is_set(), "the centre did not get ready"
        yield f"http://127.0.0.1:{config.http.port}"
    finally:
        waiting.cancel()
        stop.set()
        await asyncio.wait_for(task, 15)


async def publish(port: int, *messages: tuple[str, bytes], **client: Any) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="hostile-gateway", **client) as mqtt:
        for topic, payload in messages:
            await mqtt.publish(topic, payload, qos=1)


async def eventually(check: Callable[[], Any], within: float = 10) -> None:
    async with asyncio.timeout(within):
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)


def form_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


async def logged_in(http: httpx.AsyncClient, username: str, password: str) -> None:
    """Log in through the form, then send the session's CSRF header with JSON calls, as a page script does."""
    token = form_token((await http.get("/login")).text)
    response = await http.post("/login", data={"username": username, "password": password, "csrf": token})
    assert response.status_code == 303, response.text
    http.headers[CSRF_HEADER] = form_token((await http.get("/account")).text)
