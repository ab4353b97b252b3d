"""A city's worth of devices as one seeded message stream: for benchmarks, load tests and the demo.

The mix is what a neighbourhood gateway really hears: almost all heartbeats and periodic states,
rare alarms, and an evening peak when e-bikes charge (more traffic, and the hours when battery
fires happen). Each message is the device's own JSON on its profile's topic, so the stream drives
a real agent through its real decoders and rule packs; `inventory()` gives the matching devices.

An alarm is raised by one message and cleared by the same device's next one, so every alarm is
exactly one incident (one `firing` and one `resolved` grid event) whatever the message rate; the
stream records which messages raise one, so a consumer's loss can be counted exactly.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import aiomqtt

from gridedge.edge.broker import BrokerConfig
from gridedge.edge.reconnect import Backoff
from gridedge.simulators import link

SMOKE_TOPIC = "bridge/smoke/{key}/up"  # the built-in generic-smoke-alarm profile
IR_TOPIC = "shopfront/ir/{key}/state"  # the built-in ir-shopfront-sensor profile
CLIENT_ID = "gridedge-fleet-simulator"

# Relative message rate by hour of day: quiet nights, the evening charging peak (19-23 h) at 3x.
HOURLY_RATE = (0.4, 0.3, 0.3, 0.3, 0.3, 0.4, 0.7, 1.0, 1.2, 1.0, 1.0, 1.0,
               1.1, 1.0, 1.0, 1.0, 1.1, 1.3, 1.8, 3.0, 3.0, 2.8, 2.2, 1.0)  # fmt: skip


@dataclass(frozen=True)
class FleetMix:
    """Devices per gateway and how often something happens. Defaults: one gateway of a block."""

    gateways: int = 1
    smoke_alarms: int = 160  # per gateway
    ir_sensors: int = 40  # per gateway
    alarm_share: float = 0.001  # share of smoke-alarm messages that raise an alarm (real ones: far fewer)
    evening_alarm_factor: float = 3.0  # alarms are this much likelier in the charging peak

    def devices(self) -> int:
        return self.gateways * (self.smoke_alarms + self.ir_sensors)


@dataclass(frozen=True, slots=True)
class FleetMessage:
    gateway: int
    device: str
    topic: str
    payload: bytes
    alarm: bool  # raises a smoke alarm (the device's next message clears it)


def smoke_key(gateway: int, i: int) -> str:
    return f"G{gateway:04d}-SA-{i:04d}"


def ir_key(gateway: int, i: int) -> str:
    return f"G{gateway:04d}-IR-{i:04d}"


def inventory(mix: FleetMix, gateway: int = 0, offline_after_s: float = 3600) -> list[dict[str, object]]:
    """The devices of one gateway, as its inventory lists them (one site per ten devices)."""
    devices: list[dict[str, object]] = []
    for i in range(mix.smoke_alarms):
        devices.append(_device(smoke_key(gateway, i), "generic-smoke-alarm", i, offline_after_s))
    for i in range(mix.ir_sensors):
        devices.append(_device(ir_key(gateway, i), "ir-shopfront-sensor", i, offline_after_s))
    return devices


def _device(key: str, profile: str, i: int, offline_after_s: float) -> dict[str, object]:
    liveness = {"heartbeat_interval_s": offline_after_s / 2, "offline_after_s": offline_after_s}
    return {"id": key, "profile": profile, "location": {"site": f"Block {i // 10}"}, "liveness": liveness}


def smoke_payload(key: str, ts_ms: int, smoke: bool, battery: int = 90, rssi: int = -70) -> bytes:
    state = {"smoke": smoke, "tamper": False, "battery_pct": battery, "low_battery": False, "self_test": False}
    doc = {"dev": key, "ts": ts_ms, "event": "alarm" if smoke else "heartbeat", "state": state, "rssi": rssi}
    return json.dumps(doc, separators=(",", ":")).encode()


def ir_payload(key: str, ts_ms: int, presence: bool, dwell_s: float, beam_breaks: int) -> bytes:
    doc = {"id": key, "ts": ts_ms, "presence": presence, "dwell_s": dwell_s, "beam_breaks": beam_breaks}
    return json.dumps(doc, separators=(",", ":")).encode()


class Fleet:
    """The stream of one or more gateways' devices; `next()` per message, timestamps from the caller."""

    def __init__(self, mix: FleetMix, seed: int = 0) -> None:
        self.mix = mix
        self._rng = random.Random(seed)
        self._alarming: set[str] = set()
        self._beams: dict[str, int] = {}
        self._battery: dict[str, int] = {}

    def next(self, ts_ms: int, hour: int = 12) -> FleetMessage:
        mix, rng = self.mix, self._rng
        gateway = rng.randrange(mix.gateways)
        i = rng.randrange(mix.smoke_alarms + mix.ir_sensors)
        if i >= mix.smoke_alarms:
            key = ir_key(gateway, i - mix.smoke_alarms)
            beams = self._beams[key] = self._beams.get(key, 0) + rng.randrange(3)
            presence = rng.random() < 0.2
            payload = ir_payload(key, ts_ms, presence, round(rng.uniform(1, 20), 1) if presence else 0.0, beams)
            return FleetMessage(gateway, key, IR_TOPIC.replace("{key}", key), payload, alarm=False)
        key = smoke_key(gateway, i)
        share = mix.alarm_share * (mix.evening_alarm_factor if HOURLY_RATE[hour] >= 2 else 1.0)
        alarm = key not in self._alarming and rng.random() < share
        if alarm:
            self._alarming.add(key)
        else:
            self._alarming.discard(key)  # the next message after an alarm clears it
        battery = self._battery[key] = max(25, self._battery.get(key, 100) - (rng.random() < 0.01))
        payload = smoke_payload(key, ts_ms, alarm, battery, -60 - rng.randrange(30))
        return FleetMessage(gateway, key, SMOKE_TOPIC.replace("{key}", key), payload, alarm)

    def stream(self, count: int, start_ms: int, step_ms: float = 1.0, hour: int = 12) -> Iterator[FleetMessage]:
        """`count` messages stamped `step_ms` apart from `start_ms`, then a clear for every open alarm
        and a last alarm raised and cleared, so the stream's final grid event trails all of it."""
        for n in range(count):
            yield self.next(int(start_ms + n * step_ms), hour)
        tail = [(key, False) for key in sorted(self._alarming)] + [(smoke_key(0, 0), True), (smoke_key(0, 0), False)]
        for n, (key, alarm) in enumerate(tail):
            ts = int(start_ms + (count + n) * step_ms)
            topic = SMOKE_TOPIC.replace("{key}", key)
            yield FleetMessage(int(key[1:5]), key, topic, smoke_payload(key, ts, alarm), alarm)
        self._alarming.clear()


async def publish(
    fleet: Fleet, broker: BrokerConfig, rate: float, stop: asyncio.Event, *, reconnect: Backoff | None = None
) -> int:
    """Send the fleet's stream to `broker` until `stop`: `rate` messages/s at midday, scaled through
    the day by HOURLY_RATE (three times as many in the evening charging peak). Returns how many.

    A lost broker is reconnected with backoff; the message that failed is sent first, and the pace
    starts afresh (the stream pauses during an outage rather than bursting after it). QoS 0, as
    load: a message the broker took just before it died may still be lost."""
    sent = 0
    failed: FleetMessage | None = None

    async def session(client: aiomqtt.Client) -> None:
        nonlocal sent, failed
        started = time.monotonic()
        due = 0.0
        while not stop.is_set():
            hour = datetime.now().hour  # noqa: DTZ005 - the local day is what shapes the load
            message = failed or fleet.next(int(time.time() * 1000), hour)
            failed = message
            await link.publish(client, message.topic, message.payload, qos=0)
            failed = None
            sent += 1
            due += 1 / (rate * HOURLY_RATE[hour] / HOURLY_RATE[12])
            await asyncio.sleep(max(0.0, started + due - time.monotonic()))

    backoff = reconnect or Backoff(0.2, 5.0)
    await link.stay_connected(broker, CLIENT_ID, session, "fleet simulator", backoff=backoff, stop=stop)
    return sent
