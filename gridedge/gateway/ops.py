"""The gateway's operations side: local state, metrics, telemetry and the local API server.

The pipeline calls `on_readings`, `on_alerts` and `on_inventory` (it is a `PipelineObserver`); the
agent runs `run(stop)` as one named task. The API and the metrics see the gateway only through its
ports (gateway/ports.py).
None of it is on the alarm path: the API failing to bind or the time-series server going away is
logged and counted, and the agent keeps deciding and sending events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gridedge.devices.binding import DeviceBinding
from gridedge.edge.alert import Alert
from gridedge.edge.reading import Reading
from gridedge.gateway.metrics import agent_registry
from gridedge.gateway.ports import ControlPort, ReadModel
from gridedge.gateway.settings import GatewayConfig
from gridedge.gateway.state import LocalState, device_views
from gridedge.serving import embedded_server, listen

if TYPE_CHECKING:
    from gridedge.gateway.telemetry import InfluxSink  # imported only when telemetry is configured

log = logging.getLogger(__name__)

TOKEN_FILE = "api-token"  # noqa: S105 - a file name, not a secret
GRACEFUL_HTTP_SHUTDOWN_S = 2


class Operations:
    def __init__(self, config: GatewayConfig, read: ReadModel, control: ControlPort) -> None:
        self.config = config
        self.read = read
        self.control = control
        self.state: LocalState = read.state
        self.telemetry: InfluxSink | None = None
        if config.telemetry is not None:
            from gridedge.gateway.telemetry import InfluxSink  # influxdb-client costs ~25 MB: only when used

            self.telemetry = InfluxSink(config.telemetry, config.gateway.id)
        self.registry = agent_registry(read, self.telemetry)
        self.api_address: tuple[str, int] | None = None
        self.api_ready = asyncio.Event()

    def on_readings(self, readings: Sequence[Reading]) -> None:
        self.state.on_readings(readings)
        if self.telemetry is not None:
            self.telemetry.offer(readings)

    def on_alerts(self, alerts: Sequence[Alert]) -> None:
        self.state.on_alerts(alerts)

    def on_inventory(self, bindings: Sequence[DeviceBinding]) -> None:
        """After an inventory reload."""
        self.state.set_devices(device_views(bindings))

    async def run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            if self.telemetry is not None:
                tg.create_task(self.telemetry.run(stop), name="telemetry")
            if self.config.api.enabled:
                tg.create_task(self._serve_api(stop), name="local-api")

    async def _serve_api(self, stop: asyncio.Event) -> None:
        from gridedge.gateway.api import create_api

        cfg = self.config.api
        token = self.api_token()
        try:
            sock = listen(cfg.host, cfg.port)
        except OSError as exc:
            log.error("local API: cannot listen on %s:%d (%s); the agent runs on without it", cfg.host, cfg.port, exc)
            return
        app = create_api(self.read, self.control, self.registry, token)
        server = embedded_server(app, GRACEFUL_HTTP_SHUTDOWN_S)
        with sock:
            self.api_address = sock.getsockname()[:2]
            serving = asyncio.create_task(server.serve(sockets=[sock]), name="local-api-http")
            while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn offers no event
                await asyncio.sleep(0.02)
            log.info("local API and installer page at http://%s:%d/", *self.api_address)
            self.api_ready.set()
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([stopping, serving], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            server.should_exit = True
            await serving

    def api_token(self) -> str:
        """The configured token, else one made once and kept in the state dir for the installer (never logged)."""
        configured = self.config.api.token
        if configured is not None:
            return configured.get_secret_value()
        path: Path = self.config.state_dir / TOKEN_FILE
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        token = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(token + "\n")
        log.info("local API: no token configured; generated one in %s", path)
        return token
