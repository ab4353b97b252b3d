"""Infrared shopfront sensors over MQTT JSON, in the wire format of the built-in `ir-shopfront-sensor`
profile: passers-by break the beam for a second or two, goods put out on the pavement keep the zone
occupied for minutes. A script of timed steps (and, optionally, random passers-by) makes a scenario
reproducible.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from enum import StrEnum

import aiomqtt

from gridedge.edge.broker import BrokerConfig

TOPIC = "shopfront/ir/{key}/state"


class IrAction(StrEnum):
    PASSER_BY = "passer_by"  # someone walks through: one beam break, presence for `passing_s`
    GOODS_OUT = "goods_out"  # a rack or table is put out: presence until taken in
    GOODS_IN = "goods_in"
    SILENCE = "silence"
    RESUME = "resume"


@dataclass(frozen=True, slots=True)
class IrStep:
    at_s: float
    device: str
    action: IrAction


@dataclass(slots=True)
class ShopfrontZone:
    key: str
    beam_breaks: int = 0
    goods: bool = False
    passing_until: float = 0.0
    occupied_since: float | None = None
    present: bool = False
    silent: bool = False

    def presence(self, now: float) -> bool:
        return self.goods or now < self.passing_until

    def apply(self, action: IrAction, now: float, passing_s: float = 1.5) -> None:
        match action:
            case IrAction.PASSER_BY:
                self.beam_breaks += 1
                self.passing_until = max(self.passing_until, now + passing_s)
            case IrAction.GOODS_OUT:
                self.beam_breaks += 1
                self.goods = True
            case IrAction.GOODS_IN:
                self.goods = False
            case IrAction.SILENCE:
                self.silent = True
            case IrAction.RESUME:
                self.silent = False
        self.update(now)

    def update(self, now: float) -> bool:
        """Track when the zone became occupied; True when presence changed."""
        was, self.present = self.present, self.presence(now)
        if self.present and not was:
            self.occupied_since = now
        elif not self.present:
            self.occupied_since = None
        return self.present != was

    def message(self, now: float) -> bytes:
        dwell = now - self.occupied_since if self.occupied_since is not None else 0.0
        doc = {
            "id": self.key,
            "ts": int(now * 1000),
            "presence": self.presence(now),
            "dwell_s": round(dwell, 1),
            "beam_breaks": self.beam_breaks,
        }
        return json.dumps(doc, separators=(",", ":")).encode()


@dataclass
class IrSensorFleet:
    broker: BrokerConfig
    keys: list[str]
    heartbeat_s: float = 30.0
    script: list[IrStep] = field(default_factory=list)
    passers_per_min: float = 0.0  # random passers-by per zone, besides the script
    seed: int = 0
    topic: str = TOPIC
    client_id: str = "gridedge-sim-ir"
    sent: int = 0

    def __post_init__(self) -> None:
        self.zones = {k: ShopfrontZone(k) for k in self.keys}
        self._rng = random.Random(self.seed)

    async def run(self) -> None:
        """Publish state changes and heartbeats until cancelled."""
        b = self.broker
        async with aiomqtt.Client(
            **b.connect_args(),
            identifier=self.client_id,
        ) as client:
            await asyncio.gather(self._scripted(client), self._street(client))

    async def _publish(self, client: aiomqtt.Client, zone: ShopfrontZone) -> None:
        if not zone.silent:
            await client.publish(self.topic.replace("{key}", zone.key), zone.message(time.time()), qos=1)
            self.sent += 1
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # Python 3.11's wait_for (inside aiomqtt's publish) loses a cancel that races the PUBACK.
            raise asyncio.CancelledError

    async def _scripted(self, client: aiomqtt.Client) -> None:
        start = time.monotonic()
        for step in sorted(self.script, key=lambda s: s.at_s):
            await asyncio.sleep(max(0.0, start + step.at_s - time.monotonic()))
            zone = self.zones[step.device]
            zone.apply(step.action, time.time())
            await self._publish(client, zone)

    async def _street(self, client: aiomqtt.Client) -> None:
        """Heartbeats, random passers-by and the end of each passing, checked every 100 ms."""
        last_beat = time.monotonic()
        while True:
            await asyncio.sleep(0.1)
            now = time.time()
            beat = time.monotonic() - last_beat >= self.heartbeat_s
            for zone in self.zones.values():
                if self._rng.random() < self.passers_per_min / 600:
                    zone.apply(IrAction.PASSER_BY, now)
                    await self._publish(client, zone)
                elif zone.update(now) or beat:
                    await self._publish(client, zone)
            if beat:
                last_beat = time.monotonic()
