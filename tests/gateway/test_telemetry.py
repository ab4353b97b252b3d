"""The InfluxDB sink: downsampling and its bound in isolation, then against a real server that speaks
the InfluxDB v2 write API (VictoriaMetrics), reading the points back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gridedge.edge.reading import Reading
from gridedge.gateway.ops_settings import TelemetryConfig
from gridedge.gateway.telemetry import InfluxSink
from tests.gateway.ops_support import NEEDS_VICTORIA_METRICS, VictoriaMetrics, victoria_metrics


def sink(url: str = "http://127.0.0.1:1", **settings: Any) -> InfluxSink:
    return InfluxSink(TelemetryConfig.model_validate({"url": url, **settings}), "gw-test")


def battery(device: str, ts: float, value: float = 80.0) -> Reading:
    return Reading(device, "battery", value, ts, unit="%", role="battery")


def test_downsampling_keeps_one_point_per_interval_per_series() -> None:
    s = sink(min_interval_s=10, min_interval_by_point={"smoke": 0})
    for i in range(30):
        s.offer([battery("SA-1", 1000.0 + i), battery("SA-2", 1000.0 + i)])
        s.offer([Reading("SA-1", "smoke", i % 2 == 0, 1000.0 + i, role="smoke")])
    assert s.buffered == 3 * 2 + 30  # battery at 0, 10, 20 s for each device; every smoke change
    assert s.counters["downsampled"] == 2 * 27


def test_text_is_not_telemetry_and_the_bound_drops_the_oldest() -> None:
    s = sink(buffer=100)
    s.offer([Reading("SA-1", "message", "heartbeat", 1.0)])
    s.offer([battery("SA-1", float(i), value=i % 100) for i in range(250)])
    assert s.counters["not_numeric"] == 1
    assert s.buffered == 100
    assert s.counters["dropped"] == 150


def test_secrets_come_from_a_file_and_never_print(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "influx-token"
    secret.write_text("s3cr3t-influx\n")
    config = TelemetryConfig.model_validate({"url": "http://127.0.0.1:8086", "token_file": str(secret)})
    assert config.token == SecretStr("s3cr3t-influx")
    assert "s3cr3t" not in repr(config)
    assert "s3cr3t" not in config.model_dump_json()
    monkeypatch.setenv("GRIDEDGE_INFLUX_TOKEN", "from-env")
    assert TelemetryConfig.model_validate({"url": "http://127.0.0.1:8086"}).token == SecretStr("from-env")


async def _write(vm: VictoriaMetrics, s: InfluxSink, expected: int) -> list[tuple[dict[str, str], float, int]]:
    stop = asyncio.Event()
    task = asyncio.create_task(s.run(stop))
    try:
        async with asyncio.timeout(20):
            while True:
                found = await asyncio.to_thread(vm.samples)
                if len(found) >= expected:
                    return found
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task


@pytest.mark.integration
@NEEDS_VICTORIA_METRICS
async def test_points_are_written_and_read_back(tmp_path: Path) -> None:
    with victoria_metrics(tmp_path) as vm:
        s = sink(vm.url, flush_interval_s=0.1, batch=50)
        now = time.time()
        readings = [battery(f"SA-{d}", now - 60 + i, value=50.0 + i) for d in range(3) for i in range(40)]
        s.offer(readings)
        found = await _write(vm, s, len(readings))
    assert len(found) == len(readings)
    labels, _, _ = found[0]
    assert labels == {
        "__name__": "reading_value",
        "gateway": "gw-test",
        "device": labels["device"],
        "point": "battery",
        "unit": "%",
    }
    stored = {(m["device"], ts): v for m, v, ts in found}
    assert stored == {(r.device_id, int(r.ts * 1000)): r.value for r in readings}
    assert s.counters["written"] == len(readings)
    assert s.buffered == 0


@pytest.mark.integration
@NEEDS_VICTORIA_METRICS
async def test_after_an_outage_the_newest_points_within_the_bound_arrive(tmp_path: Path) -> None:
    vm = VictoriaMetrics(tmp_path)
    s = sink(vm.url, flush_interval_s=0.1, batch=100, buffer=300, timeout_s=1)
    stop = asyncio.Event()
    task = asyncio.create_task(s.run(stop))  # the server is not there yet
    now = time.time()
    try:
        s.offer([battery("SA-1", now - 100 + i * 0.1) for i in range(500)])
        await asyncio.sleep(1.5)
        assert s.counters["write_errors"] >= 1
        assert s.buffered == 300
        await asyncio.to_thread(vm.start)
        async with asyncio.timeout(30):
            while s.buffered:
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
    try:
        async with asyncio.timeout(10):
            while len(found := await asyncio.to_thread(vm.samples)) < 300:
                await asyncio.sleep(0.2)
    finally:
        vm.stop()
    newest = {int((now - 100 + i * 0.1) * 1000) for i in range(200, 500)}
    assert {ts for _, _, ts in found} == newest
    assert s.counters["dropped"] == 200
