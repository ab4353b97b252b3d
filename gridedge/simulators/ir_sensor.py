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
from gridedge.edge.reconnect import Backoff
from gridedge.simulators.link import publish, stay_connected

TOPIC = "shopfront/ir/{key}/state"
STREET_TICK_S = 0.1


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
    """The sensors of a street: a script of steps and the street itself (passers-by, heartbeats),
    checked every STREET_TICK_S on one timeline. After a broker loss the fleet reconnects with
    backoff and first sends the state of every zone whose message could not go out."""

    broker: BrokerConfig
    keys: list[str]
    heartbeat_s: float = 30.0
    script: list[IrStep] = field(default_factory=list)
    passers_per_min: float = 0.0  # random passers-by per zone, besides the script
    seed: int = 0
    topic: str = TOPIC
    client_id: str = "gridedge-sim-ir"
    sent: int = 0
    reconnect: Backoff = field(default_factory=lambda: Backoff(0.2, 5.0))

    def __post_init__(self) -> None:
        self.zones = {k: ShopfrontZone(k) for k in self.keys}
        self._rng = random.Random(self.seed)
        self._steps = sorted(self.script, key=lambda s: s.at_s)
        self._next_step = 0
        self._unsent: dict[str, None] = {}  # zone keys, in the order their state changed
        self._start = self._last_beat = self._next_tick = 0.0

    async def run(self) -> None:
        """Publish state changes and heartbeats until cancelled, across any number of broker losses.
        Run again (after a cancel or a crash), it continues the scenario where it was."""
        if not self._start:
            self._start = self._last_beat = time.monotonic()
            self._next_tick = self._start + STREET_TICK_S
        await stay_connected(self.broker, self.client_id, self._session, "IR sensor simulator", backoff=self.reconnect)

    async def _session(self, client: aiomqtt.Client) -> None:
        while True:
            await self._send_unsent(client)
            step = self._steps[self._next_step] if self._next_step < len(self._steps) else None
            step_due = self._start + step.at_s if step is not None else float("inf")
            await asyncio.sleep(max(0.0, min(step_due, self._next_tick) - time.monotonic()))
            if step is not None and step_due <= self._next_tick:
                self._next_step += 1
                self.zones[step.device].apply(step.action, time.time())
                self._unsent[step.device] = None
            else:
                self._next_tick = max(self._next_tick + STREET_TICK_S, time.monotonic())  # no catch-up after an outage
                self._street()

    def _street(self) -> None:
        """Random passers-by, the end of each passing, and heartbeats."""
        now = time.time()
        beat = time.monotonic() - self._last_beat >= self.heartbeat_s
        for zone in self.zones.values():
            if self._rng.random() < self.passers_per_min * STREET_TICK_S / 60:
                zone.apply(IrAction.PASSER_BY, now)
                self._unsent[zone.key] = None
            elif zone.update(now) or beat:
                self._unsent[zone.key] = None
        if beat:
            self._last_beat = time.monotonic()

    async def _send_unsent(self, client: aiomqtt.Client) -> None:
        for key in list(self._unsent):
            zone = self.zones[key]
            if not zone.silent:
                await publish(client, self.topic.replace("{key}", key), zone.message(time.time()), qos=1)
                self.sent += 1
            del self._unsent[key]
