"""The grid centre as one service: case store, MQTT ingest and the HTTP server in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn

from gridedge.center.api import create_app
from gridedge.center.ingest import Ingest
from gridedge.center.live import ChangeFeed
from gridedge.center.settings import CenterConfig, HttpConfig
from gridedge.center.store import CaseStore

log = logging.getLogger(__name__)

READY_POLL_S = 0.02
GRACEFUL_HTTP_SHUTDOWN_S = 5


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the caller decides when the centre stops (`stop` or
    cancellation), instead of uvicorn swallowing Ctrl+C and re-raising it after its own shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def run_center(
    config: CenterConfig, *, stop: asyncio.Event | None = None, ready: asyncio.Event | None = None
) -> None:
    """Serve until `stop` is set or the task is cancelled, then shut down HTTP and ingest cleanly.

    `ready` is set once ingest is subscribed and HTTP is listening. Tables are created with
    `create_all` for now; schema migrations come with the first schema change.
    """
    store = CaseStore(config.database)
    try:
        await asyncio.to_thread(store.create_schema)
        feed = ChangeFeed()
        ingest = Ingest(config, store, on_stored=lambda _events: feed.publish())
        app = create_app(store, stats=ingest.stats, feed=feed)
        server = _EmbeddedServer(
            uvicorn.Config(
                app,
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=GRACEFUL_HTTP_SHUTDOWN_S,
            )
        )
        with _listen(config.http) as sock:
            host, port = sock.getsockname()[:2]
            log.info("grid centre console and API at http://%s:%d/", host, port)
            tasks = [
                asyncio.create_task(ingest.run(), name="center-ingest"),
                asyncio.create_task(server.serve(sockets=[sock]), name="center-http"),
            ]
            try:
                await _serve_until_stopped(stop or asyncio.Event(), ready, server, ingest, tasks)
            finally:
                feed.close()
                server.should_exit = True
                tasks[0].cancel()
                await asyncio.wait(tasks)
        _raise_failure(tasks)
    finally:
        store.close()
    log.info("grid centre stopped")


def _listen(http: HttpConfig) -> socket.socket:
    """Bind here rather than in uvicorn, so a taken port raises OSError instead of SystemExit."""
    family = socket.AF_INET6 if ":" in http.host else socket.AF_INET
    return socket.create_server((http.host, http.port), family=family)


async def _serve_until_stopped(
    stop: asyncio.Event,
    ready: asyncio.Event | None,
    server: uvicorn.Server,
    ingest: Ingest,
    tasks: list[asyncio.Task[None]],
) -> None:
    while not (server.started and ingest.stats.broker_connected):
        if stop.is_set() or any(t.done() for t in tasks):
            return
        await asyncio.sleep(READY_POLL_S)
    log.info("grid centre ready")
    if ready is not None:
        ready.set()
    stopping = asyncio.create_task(stop.wait(), name="center-stop")
    try:
        await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        await asyncio.wait([stopping])


def _raise_failure(tasks: list[asyncio.Task[None]]) -> None:
    """A task that ended on its own with an error is the centre's error."""
    for task in tasks:
        if not task.cancelled() and (exc := task.exception()) is not None:
            raise exc
