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
from gridedge.edge.reconnect import Backoff
from gridedge.simulators.link import publish, stay_connected

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
    """The alarms behind one vendor bridge: staggered heartbeats and a script of steps on one timeline.

    When the broker goes away the bridge reconnects with backoff and then sends what it could not:
    the latest state of each alarm whose message failed (heartbeats missed meanwhile are skipped,
    scripted steps that fell due are applied and sent late, in order)."""

    broker: BrokerConfig
    keys: list[str]
    heartbeat_s: float = 60.0
    script: list[Step] = field(default_factory=list)
    topic: str = TOPIC
    client_id: str = "gridedge-sim-smoke"
    sent: int = 0
    reconnect: Backoff = field(default_factory=lambda: Backoff(0.2, 5.0))

    def __post_init__(self) -> None:
        self.alarms = {k: SmokeAlarm(k) for k in self.keys}
        self._steps = sorted(self.script, key=lambda s: s.at_s)
        self._next_step = 0
        self._next_slot = 0  # heartbeat slot k is alarm k % n, due k * heartbeat_s / n after the start
        self._unsent: dict[str, str] = {}  # alarm key -> the event its next message reports
        self._start = 0.0

    async def run(self) -> None:
        """Publish heartbeats and scripted steps until cancelled, across any number of broker losses.
        Run again (after a cancel or a crash), it continues the scenario where it was."""
        self._start = self._start or time.monotonic()
        what = "smoke-alarm simulator"
        await stay_connected(self.broker, self.client_id, self._session, what, backoff=self.reconnect)

    async def _session(self, client: aiomqtt.Client) -> None:
        n = max(len(self.alarms), 1)
        slot_s = self.heartbeat_s / n
        # Stagger devices over the period, as real devices switched on at different times; after an
        # outage, the slots that passed are skipped rather than sent in one burst.
        passed = int((time.monotonic() - self._start) / slot_s)
        self._next_slot = max(self._next_slot, passed if self._next_slot else 0)
        while True:
            await self._send_unsent(client)
            beat_due = self._start + self._next_slot * slot_s
            step = self._steps[self._next_step] if self._next_step < len(self._steps) else None
            step_due = self._start + step.at_s if step is not None else float("inf")
            await asyncio.sleep(max(0.0, min(beat_due, step_due) - time.monotonic()))
            if step is not None and step_due <= beat_due:
                self._next_step += 1
                self._apply(step)
            else:
                alarm = list(self.alarms.values())[self._next_slot % n]
                self._next_slot += 1
                self._unsent.setdefault(alarm.key, "heartbeat")

    def _apply(self, step: Step) -> None:
        alarm = self.alarms.get(step.device)
        if alarm is None:
            log.warning("script step at %.1f s names unknown device %s", step.at_s, step.device)
            return
        alarm.apply(step.action)
        log.info("simulator: %s %s", step.device, step.action.value)
        self._unsent[alarm.key] = step.action.value

    async def _send_unsent(self, client: aiomqtt.Client) -> None:
        """Send each pending alarm's current state; one that fails stays pending for the next session."""
        for key, event in list(self._unsent.items()):
            alarm = self.alarms[key]
            if not alarm.silent:
                await publish(client, self.topic.replace("{key}", key), alarm.message(event, time.time()), qos=1)
                self.sent += 1
            del self._unsent[key]
