"""The gateway agent: wires drivers -> rules -> outbox -> uplink under one supervisor.

It decides nothing itself. Readings flow through a bounded queue whose policy when full is to make
the driver wait (back-pressure onto the broker session, which holds QoS 1 messages for us), never to
drop: an alarm must not be lost to a burst of heartbeats.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from pathlib import Path

from gridedge import __version__
from gridedge.cloud_bridge.message import event_message
from gridedge.cloud_bridge.outbox import Outbox
from gridedge.cloud_bridge.uplink import Uplink
from gridedge.devices.binding import DeviceBinding, bind
from gridedge.devices.drivers.mqtt import MqttDriver, MqttRouter
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.edge.alert import Alert, Origin, to_grid_event
from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.reading import Reading
from gridedge.gateway.settings import GatewayConfig
from gridedge.rules.engine import RuleEngine
from gridedge.rules.model import BUILTIN_PACKS, RulePack, load_rule_pack

log = logging.getLogger(__name__)

READING_QUEUE_BATCHES = 1000
TICK_S = 1.0


def load_rules(paths: list[Path] | None) -> RulePack:
    files = paths if paths is not None else sorted(BUILTIN_PACKS.glob("*.yaml"))
    rules = [r for f in files for r in load_rule_pack(f).rules]
    return RulePack(rules=rules)


def origins(config: GatewayConfig, bindings: list[DeviceBinding]) -> dict[str, Origin]:
    gw = config.gateway
    return {
        b.device.id: Origin(gw.id, b.device.grid or gw.grid, b.device.location, b.compiled.profile.id) for b in bindings
    }


class Agent:
    def __init__(self, config: GatewayConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.counters: Counter[str] = Counter()
        profiles = load_profiles([BUILTIN_PROFILES, *config.profile_dirs])
        bindings = bind(config.inventory, profiles, "inventory")
        self.origins = origins(config, bindings)
        self.engine = RuleEngine(load_rules(config.rule_packs), self.clock)
        for b in bindings:
            liveness = b.liveness
            labels = {"site": b.device.location.site, "address": b.device.location.address}
            self.engine.register_device(b.device.id, labels, liveness.offline_after_s if liveness else None)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(config.state_dir / "outbox.db")
        self.uplink = Uplink(self.outbox, config.uplink.broker, config.gateway.id, version=__version__)
        self.readings: asyncio.Queue[list[Reading]] = asyncio.Queue(maxsize=READING_QUEUE_BATCHES)
        self.router = MqttRouter(bindings)
        self.driver = MqttDriver(
            config.southbound.mqtt, self.router, self.readings.put, self.clock, f"gridedge-agent-{config.gateway.id}"
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Run every part as a named task until `stop` is set, then shut down in order."""
        log.info("agent %s: %d devices, %d rules", self.config.gateway.id, len(self.origins), len(self.engine.rules))
        try:
            async with asyncio.TaskGroup() as tg:
                uplink = tg.create_task(self.uplink.run(stop), name="uplink")
                workers = [
                    tg.create_task(self.driver.run(), name="southbound-mqtt"),
                    tg.create_task(self._decide(), name="rules"),
                    tg.create_task(self._tick(), name="rules-clock"),
                ]
                await stop.wait()
                for task in workers:
                    task.cancel()
                await uplink
        finally:
            self.outbox.close()

    async def _decide(self) -> None:
        while True:
            batch = [await self.readings.get()]
            while not self.readings.empty() and len(batch) < 256:
                batch.append(self.readings.get_nowait())
            readings = list(itertools.chain.from_iterable(batch))
            self.counters["readings"] += len(readings)
            await self._emit(self.engine.process(readings))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            await self._emit(self.engine.tick())

    async def _emit(self, alerts: list[Alert]) -> None:
        """Durable before anything else sees it: the outbox write completes before the uplink is told."""
        if not alerts:
            return
        messages = [event_message(to_grid_event(a, self.origins[a.device_id])) for a in alerts]
        await asyncio.to_thread(self.outbox.put_many, messages)
        self.counters["events"] += len(messages)
        for a in alerts:
            log.info("event %s seq %d %s %s: %s", a.event_id, a.seq, a.status.value, a.category, a.title)
        self.uplink.notify()
