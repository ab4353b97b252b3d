"""Agents and API clients for the operations tests (local API, metrics, telemetry)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr

from gridedge.devtools.demo import demo_gateway_config
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.clock import Clock
from gridedge.gateway.agent import Agent
from gridedge.gateway.api import create_api
from gridedge.gateway.ops_settings import ApiConfig
from gridedge.gateway.settings import GatewayConfig
from tests.servers import free_port

TOKEN = "installer-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEEDS_VICTORIA_METRICS = pytest.mark.skipif(
    shutil.which("victoria-metrics") is None,
    reason="Debian's victoria-metrics is not installed (./run test installs it)",
)


def gateway_config(tmp_path: Path, broker: str = "mqtt://127.0.0.1:1", **updates: Any) -> GatewayConfig:
    config = demo_gateway_config(BrokerConfig.model_validate(broker), tmp_path / "agent")
    api = ApiConfig(port=updates.pop("api_port", 8780), token=SecretStr(TOKEN))
    return config.model_copy(update={"api": api, **updates})


def agent_at_rest(tmp_path: Path, clock: Clock | None = None) -> Agent:
    """A real agent, built but not running: its state is fed by hand."""
    return Agent(gateway_config(tmp_path), clock=clock)


def api_client(agent: Agent) -> httpx.AsyncClient:
    app = create_api(agent.read, agent.pipeline, agent.ops.registry, TOKEN)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


@contextlib.contextmanager
def agent_process(workdir: Path, broker: str, api_port: int, **env: str) -> Iterator[str]:
    """`gridedge agent` in its own process, its token from the environment; yields the API's URL once ready."""
    config = gateway_config(workdir, broker, api_port=api_port)
    doc = config.model_dump(mode="json", exclude={"api": {"token"}}, exclude_none=True)
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    log = (workdir / "agent.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gridedge", "agent", "--config", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "GRIDEDGE_API_TOKEN": TOKEN, **env},
    )
    url = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", headers=AUTH, timeout=1).status_code == 200:
                    break
            assert process.poll() is None, (workdir / "agent.log").read_text()
            time.sleep(0.1)
        else:
            raise AssertionError(f"agent not ready: {(workdir / 'agent.log').read_text()}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


class VictoriaMetrics:
    """Debian's VictoriaMetrics on a free loopback port: speaks the InfluxDB v2 write API."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.data = workdir / "vm-data"
        self.log = workdir / "vm.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "victoria-metrics",
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    f"-storageDataPath={self.data}",
                    "-retentionPeriod=100y",
                    "-search.latencyOffset=0s",
                    "-search.disableCache",
                    "-loggerLevel=ERROR",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"victoria-metrics did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def samples(self, metric: str = "reading_value") -> list[tuple[dict[str, str], float, int]]:
        """Every stored (labels, value, ms timestamp), read back through the export API."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()  # make recent rows searchable
        response = httpx.get(f"{self.url}/api/v1/export", params={"match[]": metric}, timeout=10)
        response.raise_for_status()
        out = []
        for line in response.text.splitlines():
            series = json.loads(line)
            for value, ts in zip(series["values"], series["timestamps"], strict=True):
                out.append((series["metric"], float(value), int(ts)))
        return out


@contextlib.contextmanager
def victoria_metrics(workdir: Path) -> Iterator[VictoriaMetrics]:
    vm = VictoriaMetrics(workdir)
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()
