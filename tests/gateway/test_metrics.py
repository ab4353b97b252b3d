"""Prometheus metrics are read from the agent's own counters at scrape time."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gridedge.edge.clock import FakeClock
from gridedge.edge.reading import Reading
from tests.gateway.ops_support import agent_at_rest
from tests.gateway.test_api import alert


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
        agent.router.route("bridge/smoke/SA-0001/up", b"{broken", 0.0)
        agent.router.route("bridge/smoke/SA-9999/up", b"{}", 0.0)
        agent.counters["readings"] += 7
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
