"""Prometheus metrics of one gateway, read from its read model (gateway/ports.py `ReadModel`).

A collector reads them at scrape time, so the hot path pays nothing for metrics. Scrapes run on a
worker thread while the event loop keeps counting: the collector iterates over copies (`dict(...)`,
one atomic step under the GIL), never over a live counter. Each agent gets its
own registry (several agents share a process in tests and benchmarks). Per-camera figures come
from the latest stats each camera's worker sent (`vision.worker.CameraStats`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from gridedge.cloud_bridge.uplink import UplinkState
from gridedge.gateway.ports import CameraPort, ReadModel

if TYPE_CHECKING:
    from gridedge.gateway.telemetry import InfluxSink  # imported only when telemetry is configured

REJECT_PREFIX = "rejected_"
MODBUS_COUNTS = {
    "polls": "Polls of a Modbus device (one or more requests each).",
    "requests": "Modbus requests sent to a device, retries included.",
    "timeouts": "Modbus requests a device did not answer in time.",
    "exceptions": "Modbus exception answers from a device (a refused read).",
    "unavailable": "Times a device stopped answering and its points went unavailable.",
}


class AgentCollector(Collector):
    def __init__(self, read: ReadModel, telemetry: InfluxSink | None) -> None:
        self._read = read
        self._telemetry = telemetry

    def collect(self) -> Iterator[Metric]:
        yield from self._readings()
        yield from self._modbus()
        yield from self._reloads()
        yield from self._events()
        yield from self._uplink()
        yield from self._hygiene()
        yield from cameras(self._read.cameras)
        if self._telemetry is not None:
            yield from self._influx(self._telemetry)

    def _readings(self) -> Iterator[Metric]:
        drivers = self._read.driver_counters()
        pipeline = self._read.pipeline_counters()
        received = CounterMetricFamily(
            "gridedge_messages_received", "Device messages received, per driver.", labels=["driver"]
        )
        decoded = CounterMetricFamily("gridedge_readings_in", "Readings decoded, per driver.", labels=["driver"])
        rejected = CounterMetricFamily(
            "gridedge_readings_rejected",
            "Messages or fields rejected, per driver and reason.",
            labels=["driver", "reason"],
        )
        for driver, counters in drivers.items():
            received.add_metric([driver], counters.get("messages", 0))
            decoded.add_metric([driver], counters.get("readings", 0))
            for key, value in counters.items():
                if key.startswith(REJECT_PREFIX):
                    rejected.add_metric([driver, key.removeprefix(REJECT_PREFIX)], value)
        yield from (received, decoded, rejected)
        out = CounterMetricFamily("gridedge_readings_out", "Readings handed to the rules engine.")
        out.add_metric([], pipeline.get("readings", 0))
        yield out
        evaluations = CounterMetricFamily(
            "gridedge_rule_evaluations", "Readings evaluated against the rules (one pass per reading)."
        )
        evaluations.add_metric([], pipeline.get("readings", 0))
        yield evaluations

    def _modbus(self) -> Iterator[Metric]:
        """Per bus and per device: how the polling goes (a device timing out or answering with
        exceptions shows here before its points go unavailable)."""
        families = {
            name: CounterMetricFamily(f"gridedge_modbus_{name}", text, labels=["bus", "device"])
            for name, text in MODBUS_COUNTS.items()
        }
        down = CounterMetricFamily("gridedge_modbus_bus_down", "Times a bus could not be opened.", labels=["bus"])
        for bus, (counts, devices) in sorted(self._read.modbus_counters().items()):
            down.add_metric([bus], counts.get("bus_down", 0))
            for device, mine in sorted(devices.items()):
                for name, family in families.items():
                    family.add_metric([bus, device], mine.get(name, 0))
        yield from families.values()
        yield down

    def _reloads(self) -> Iterator[Metric]:
        counts = self._read.pipeline_counters()
        reloads = CounterMetricFamily(
            "gridedge_reloads",
            "Reloads of rule packs and of profiles/inventory, per outcome.",
            labels=["what", "outcome"],
        )
        for what in ("rules", "devices"):
            reloads.add_metric([what, "applied"], counts.get(f"{what}_reloaded", 0))
            reloads.add_metric([what, "failed"], counts.get(f"{what}_reload_failed", 0))
        yield reloads

    def _events(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "gridedge_events", "Grid-event revisions raised, per category and status.", labels=["category", "status"]
        )
        for (category, status), n in sorted(dict(self._read.state.events_by_category).items()):
            events.add_metric([category, status], n)
        yield events
        depth = GaugeMetricFamily("gridedge_outbox_depth", "Events waiting in the outbox for the broker's PUBACK.")
        depth.add_metric([], self._read.outbox.depth())
        yield depth
        age = GaugeMetricFamily("gridedge_outbox_oldest_age_seconds", "Age of the oldest event in the outbox.")
        age.add_metric([], self._read.outbox.oldest_age())
        yield age

    def _uplink(self) -> Iterator[Metric]:
        uplink = self._read.uplink
        up = GaugeMetricFamily("gridedge_uplink_state", "1 for the uplink's current state.", labels=["state"])
        for s in UplinkState:
            up.add_metric([s.value], 1.0 if uplink.state is s else 0.0)
        yield up
        published = CounterMetricFamily("gridedge_uplink_published", "Events acknowledged by the city broker.")
        published.add_metric([], uplink.published)
        yield published
        reconnects = CounterMetricFamily("gridedge_uplink_reconnects", "Uplink reconnection attempts after a failure.")
        reconnects.add_metric([], uplink.reconnects)
        yield reconnects
        southbound = GaugeMetricFamily("gridedge_southbound_connected", "1 while the southbound broker is connected.")
        southbound.add_metric([], 1.0 if self._read.southbound_connected() else 0.0)
        yield southbound

    def _hygiene(self) -> Iterator[Metric]:
        """What officers do not see, and whether events reach the disk."""
        held = GaugeMetricFamily(
            "gridedge_incidents_held", "Open incidents not shown to officers now, per reason.", labels=["reason"]
        )
        counts = self._read.held_incidents()
        for reason in ("silenced", "inhibited", "flood"):
            held.add_metric([reason], counts.get(reason, 0))
        yield held
        silences = GaugeMetricFamily("gridedge_silences_active", "Operators' silences in force.")
        silences.add_metric([], sum(1 for s in self._read.silences() if not s.from_pack))
        yield silences
        storage = self._read.storage()
        failing = GaugeMetricFamily(
            "gridedge_storage_failing", "1 while events cannot be written to disk (full or read-only)."
        )
        failing.add_metric([], 0.0 if storage.failing is None else 1.0)
        yield failing
        in_memory = GaugeMetricFamily(
            "gridedge_events_held_in_memory", "Events waiting in memory for the disk to take writes again."
        )
        in_memory.add_metric([], storage.held_in_memory)
        yield in_memory
        lost = CounterMetricFamily(
            "gridedge_events_dropped_in_memory",
            "Events given up while the disk refused writes and memory was full, per severity.",
            labels=["severity"],
        )
        for severity, n in sorted(storage.dropped_in_memory.items()):
            lost.add_metric([severity], n)
        yield lost

    def _influx(self, sink: InfluxSink) -> Iterator[Metric]:
        points = CounterMetricFamily("gridedge_telemetry_points", "Telemetry points, per outcome.", labels=["outcome"])
        for outcome, n in sorted(dict(sink.counters).items()):
            points.add_metric([outcome], n)
        yield points
        buffered = GaugeMetricFamily("gridedge_telemetry_buffered", "Telemetry points waiting to be written.")
        buffered.add_metric([], sink.buffered)
        yield buffered


def cameras(feed: CameraPort) -> Iterator[Metric]:
    """Per camera: frames analysed, the analysis rate over the last interval, detector time."""
    frames = CounterMetricFamily(
        "gridedge_camera_frames_analysed", "Frames analysed, per camera (since its worker started).", labels=["camera"]
    )
    fps = GaugeMetricFamily("gridedge_camera_fps", "Frames analysed a second, over the last second.", labels=["camera"])
    inference = SummaryMetricFamily(
        "gridedge_camera_inference_seconds", "Object detector runs and their time, per camera.", labels=["camera"]
    )
    for camera, s in sorted(feed.stats().items()):
        frames.add_metric([camera], s.frames)
        fps.add_metric([camera], s.fps)
        inference.add_metric([camera], count_value=s.detector_runs, sum_value=s.detector_s)
    yield from (frames, fps, inference)


def agent_registry(read: ReadModel, telemetry: InfluxSink | None) -> CollectorRegistry:
    """A registry with the gateway's metrics and the process's own (memory, CPU, open files)."""
    registry = CollectorRegistry()
    registry.register(AgentCollector(read, telemetry))
    ProcessCollector(registry=registry)
    return registry
