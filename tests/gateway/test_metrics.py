"""Prometheus metrics are read from the agent's own counters at scrape time."""

from __future__ import annotations

import asyncio
import time
from multiprocessing import resource_tracker
from pathlib import Path

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gridedge.devices.binding import bind
from gridedge.devices.buses import ModbusTcpBus
from gridedge.devices.drivers.modbus import BusCounters, ModbusBusDriver, polled_devices
from gridedge.devices.inventory import Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.edge.clock import FakeClock, SystemClock
from gridedge.edge.reading import Reading
from gridedge.gateway.agent import Agent
from gridedge.simulators.charging_pile import PileServer, plugged_piles
from gridedge.simulators.scenes import CORRIDOR, EBIKE_INDOOR, Scene, write_clip
from gridedge.vision.config import CameraConfig, ZoneConfig
from tests.gateway.ops_support import agent_at_rest, gateway_config
from tests.gateway.test_api import alert
from tests.servers import free_port


def scrape(registry: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()  # type: ignore[arg-type]
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counters_of_every_part_are_exposed(tmp_path: Path) -> None:
    agent = agent_at_rest(tmp_path, FakeClock())
    try:
        agent.pipeline.southbound.router.route("bridge/smoke/SA-0001/up", b"{broken", 0.0)
        agent.pipeline.southbound.router.route("bridge/smoke/SA-9999/up", b"{}", 0.0)
        agent.pipeline.counters["readings"] += 7
        agent.ops.on_readings([Reading("SA-0001", "battery", 90.0, 0.0)])
        agent.ops.on_alerts([alert()])
        found = scrape(agent.ops.registry)
    finally:
        agent.outbox.close()
    assert found[("gridedge_messages_received_total", (("driver", "mqtt"),))] == 2
    assert found[("gridedge_readings_rejected_total", (("driver", "mqtt"), ("reason", "unknown_device")))] == 1
    assert found[("gridedge_readings_out_total", ())] == 7
    assert found[("gridedge_events_total", (("category", "fire_safety.smoke_alarm"), ("status", "firing")))] == 1
    assert found[("gridedge_outbox_depth", ())] == 0
    assert found[("gridedge_uplink_state", (("state", "disconnected"),))] == 1
    assert found[("process_resident_memory_bytes", ())] > 10_000_000


@pytest.fixture(scope="module")
def _resource_tracker() -> None:
    """Start Python's resource tracker (it outlives a camera worker) before the leak check looks."""
    resource_tracker.ensure_running()


@pytest.mark.usefixtures("_resource_tracker")
def test_a_camera_fed_by_a_clip_shows_frames_fps_and_detector_time(tmp_path: Path) -> None:
    scene = Scene("empty", "corridor", 4.0, (), {"corridor": CORRIDOR}, {"corridor": EBIKE_INDOOR}, fps=10.0)
    video = write_clip(scene, tmp_path / "clips")
    zone = ZoneConfig(name="corridor", polygon=list(CORRIDOR), category=EBIKE_INDOOR)
    camera = CameraConfig(id="cam-1", source=str(video), zones=[zone], analyse_fps=5.0)
    agent = Agent(gateway_config(tmp_path).model_copy(update={"cameras": [camera]}))
    try:
        worker = agent.cameras.workers[0]
        with worker:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and (worker.stats is None or worker.stats.frames < 8):
                worker.get(timeout=0.2)  # what the agent's camera task does; stats are kept on the way
        found = scrape(agent.ops.registry)
    finally:
        agent.outbox.close()
    cam = (("camera", "cam-1"),)
    assert found[("gridedge_camera_frames_analysed_total", cam)] >= 8
    assert 2.0 <= found[("gridedge_camera_fps", cam)] <= 7.0  # analysing at 5 of the clip's 10 frames a second
    assert found[("gridedge_camera_inference_seconds_count", cam)] == 0  # class-agnostic: no detector runs
    assert found[("gridedge_camera_inference_seconds_sum", cam)] == 0.0


@pytest.mark.integration
async def test_modbus_polls_timeouts_exceptions_and_reload_failures_per_bus_and_device(tmp_path: Path) -> None:
    """A real pymodbus server: pile 1 answers then refuses (exceptions), unit 2 never answers (timeouts)."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    agent = Agent(gateway_config(tmp_path, profile_dirs=[profiles]), clock=FakeClock())
    server = PileServer(plugged_piles([1]))
    port = free_port()
    await server.start_tcp("127.0.0.1", port)
    inventory = Inventory.model_validate(
        {
            "devices": [
                {
                    "id": f"EP-{u}",
                    "profile": "ebike-charging-pile-10",
                    "location": {"site": "shed"},
                    "modbus": {"bus": "shed", "unit": u, "poll_interval_s": 0.1, "timeout_s": 0.1, "retries": 0},
                }
                for u in (1, 2)
            ]
        }
    )
    bindings = bind(inventory, load_profiles([BUILTIN_PROFILES]), "inventory", frozenset({"shed"}))
    counters = agent.pipeline.southbound.modbus_counters.setdefault("shed", BusCounters())

    async def sink(_: list[Reading]) -> None:
        return None

    bus = ModbusTcpBus(name="shed", host="127.0.0.1", port=port)
    driver = ModbusBusDriver(bus, polled_devices(bindings, "shed"), sink, SystemClock(), counters)
    task = asyncio.create_task(driver.run())
    try:
        async with asyncio.timeout(10):
            while counters.devices["EP-1"]["polls"] < 2 or not counters.devices["EP-2"]["unavailable"]:
                await asyncio.sleep(0.05)
            server.piles[1].refuse = True
            while counters.devices["EP-1"]["exceptions"] < 1:
                await asyncio.sleep(0.05)
        (profiles / "broken.yaml").write_text("id: broken\nvendor: v\n")
        assert await agent.pipeline.reload_devices() is False
        found = scrape(agent.ops.registry)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
        agent.outbox.close()

    def metric(name: str, device: str) -> float:
        return found[(f"gridedge_modbus_{name}_total", (("bus", "shed"), ("device", device)))]

    assert metric("polls", "EP-1") >= 2
    assert metric("exceptions", "EP-1") >= 1
    assert metric("timeouts", "EP-1") == 0
    assert metric("timeouts", "EP-2") >= 1
    assert metric("unavailable", "EP-2") == 1
    assert metric("exceptions", "EP-2") == 0
    assert found[("gridedge_modbus_bus_down_total", (("bus", "shed"),))] == 0
    assert found[("gridedge_reloads_total", (("outcome", "failed"), ("what", "devices")))] == 1
    assert found[("gridedge_reloads_total", (("outcome", "applied"), ("what", "devices")))] == 0
