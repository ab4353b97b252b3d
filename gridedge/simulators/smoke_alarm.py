"""Wireless smoke alarms as a vendor bridge republishes them: JSON over MQTT, heartbeats and state changes.

The fleet speaks exactly the wire format of the built-in `generic-smoke-alarm` profile. A script of
timed steps raises and clears alarms, tampers, drains batteries and silences devices, so a scenario
(and the demo) is reproducible.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum

import aiomqtt

from gridedge.edge.broker import BrokerConfig

log = logging.getLogger(__name__)

TOPIC = "bridge/smoke/{key}/up"


class Action(StrEnum):
    ALARM = "alarm"
    CLEAR = "clear"
    TAMPER = "tamper"
    TAMPER_CLEAR = "tamper_clear"
    LOW_BATTERY = "low_battery"
    SELF_TEST = "self_test"
    SILENCE = "silence"  # the device stops sending anything, heartbeats included
    RESUME = "resume"


@dataclass(frozen=True, slots=True)
class Step:
    at_s: float
    device: str
    action: Action


@dataclass(slots=True)
class SmokeAlarm:
    key: str
    smoke: bool = False
    tamper: bool = False
    battery_pct: float = 95.0
    self_test: bool = False
    silent: bool = False

    def apply(self, action: Action) -> None:
        match action:
            case Action.ALARM:
                self.smoke = True
            case Action.CLEAR:
                self.smoke = False
            case Action.TAMPER:
                self.tamper = True
            case Action.TAMPER_CLEAR:
                self.tamper = False
            case Action.LOW_BATTERY:
                self.battery_pct = 8.0
            case Action.SELF_TEST:
                self.self_test = True
            case Action.SILENCE:
                self.silent = True
            case Action.RESUME:
                self.silent = False

    def message(self, event: str, now: float) -> bytes:
        doc = {
            "dev": self.key,
            "ts": int(now * 1000),
            "event": event,
            "state": {
                "smoke": self.smoke,
                "tamper": self.tamper,
                "battery_pct": self.battery_pct,
                "low_battery": self.battery_pct < 15,
                "self_test": self.self_test,
            },
            "rssi": -71,
        }
        self.self_test = False  # a self-test is reported once
        return json.dumps(doc, separators=(",", ":")).encode()


@dataclass
class SmokeAlarmFleet:
    broker: BrokerConfig
    keys: list[str]
    heartbeat_s: float = 60.0
    script: list[Step] = field(default_factory=list)
    topic: str = TOPIC
    client_id: str = "gridedge-sim-smoke"
    sent: int = 0

    def __post_init__(self) -> None:
        self.alarms = {k: SmokeAlarm(k) for k in self.keys}

    async def run(self) -> None:
        """Publish heartbeats and scripted steps until cancelled."""
        b = self.broker
        async with aiomqtt.Client(
            **b.connect_args(),
            identifier=self.client_id,
        ) as client:
            start = time.monotonic()
            await asyncio.gather(
                self._heartbeats(client, start),
                self._scripted(client, start),
            )

    async def _publish(self, client: aiomqtt.Client, alarm: SmokeAlarm, event: str) -> None:
        await client.publish(self.topic.replace("{key}", alarm.key), alarm.message(event, time.time()), qos=1)
        self.sent += 1

    async def _heartbeats(self, client: aiomqtt.Client, start: float) -> None:
        # Stagger devices over the period, as real devices that were switched on at different times.
        n = max(len(self.alarms), 1)
        tick = 0
        while True:
            for i, alarm in enumerate(self.alarms.values()):
                due = start + tick * self.heartbeat_s + i * self.heartbeat_s / n
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not alarm.silent:
                    await self._publish(client, alarm, "heartbeat")
            tick += 1

    async def _scripted(self, client: aiomqtt.Client, start: float) -> None:
        for step in sorted(self.script, key=lambda s: s.at_s):
            await asyncio.sleep(max(0.0, start + step.at_s - time.monotonic()))
            alarm = self.alarms.get(step.device)
            if alarm is None:
                log.warning("script step at %.1f s names unknown device %s", step.at_s, step.device)
                continue
            alarm.apply(step.action)
            log.info("simulator: %s %s", step.device, step.action.value)
            if not alarm.silent:
                await self._publish(client, alarm, step.action.value)
