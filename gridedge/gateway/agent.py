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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gridedge.cloud_bridge.message import OutMessage, event_message
from gridedge.cloud_bridge.outbox import Outbox
from gridedge.cloud_bridge.writer import OutboxWriter
from gridedge.devices.binding import DeviceBinding
from gridedge.edge.alert import Alert, Origin, to_grid_event
from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.errors import ConfigError
from gridedge.edge.event import Severity
from gridedge.edge.reading import Reading
from gridedge.gateway.bridge import AgentCommands, make_uplink
from gridedge.gateway.cameras import CameraFeed
from gridedge.gateway.ops import Operations
from gridedge.gateway.settings import GatewayConfig
from gridedge.gateway.southbound import Southbound, device_files_stamp, load_bindings
from gridedge.gateway.watch import files_stamp, watch
from gridedge.rules.engine import RuleEngine
from gridedge.rules.model import BUILTIN_PACKS, RuleError, RulePack, load_rule_pack, merge_packs

log = logging.getLogger(__name__)

READING_QUEUE_BATCHES = 64  # driver batches (a socket read or a poll each): the rest waits in the broker
DECIDE_READINGS = 2048  # per turn of the event loop: a few ms, so the uplink is never kept waiting long
TICK_S = 1.0
RULES_POLL_S = 2.0  # how often the rule pack files are checked for changes (hot reload)
DEVICES_POLL_S = 2.0  # how often profiles and the inventory file are checked for changes (hot reload)


def rule_files(paths: list[Path] | None) -> list[Path]:
    return paths if paths is not None else sorted(BUILTIN_PACKS.glob("*.yaml"))


def load_rules(paths: list[Path] | None) -> RulePack:
    return merge_packs([load_rule_pack(f) for f in rule_files(paths)])


RULES_STATE = "rules:"
"""The rules engine's keys in the outbox's state table."""


def rules_state(outbox: Outbox) -> dict[str, Any]:
    return {k.removeprefix(RULES_STATE): v for k, v in outbox.load_state(RULES_STATE).items()}


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
        bindings = load_bindings(config)
        self.origins = origins(config, bindings)
        self.engine = RuleEngine(load_rules(config.rule_packs), self.clock)
        self._register_devices(bindings)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(config.state_dir / "outbox.db", bound=config.uplink.outbox.bound())
        # What the rules decided before a restart; resolutions of rules removed meanwhile go out first.
        self._restored = self.engine.restore(rules_state(self.outbox))
        self.writer = OutboxWriter(self.outbox, self._stored)  # group commit: the rules never wait for the disk
        self._failed: BaseException | None = None
        self.commands = AgentCommands(self)  # downlink commands from the centre: gateway/bridge.py
        self.uplink = make_uplink(self, self.commands)
        self.readings: asyncio.Queue[list[Reading]] = asyncio.Queue(maxsize=READING_QUEUE_BATCHES)
        self.southbound = Southbound(config, bindings, self.readings.put, self.clock)  # gateway/southbound.py
        self.router = self.southbound.router
        self.ops = Operations(self, bindings)  # local API, metrics, telemetry: gateway/ops.py
        self.driver = self.southbound.mqtt
        gw = config.gateway
        self.cameras = CameraFeed(config.cameras, gw.id, gw.grid, gw.location)  # gateway/cameras.py

    async def run(self, stop: asyncio.Event) -> None:
        """Run every part as a named task until `stop` is set, then shut down in order."""
        log.info("agent %s: %d devices, %d rules", self.config.gateway.id, len(self.origins), len(self.engine.rules))
        try:
            self._emit(self._restored)
            async with asyncio.TaskGroup() as tg:
                uplink = tg.create_task(self.uplink.run(stop), name="uplink")
                tg.create_task(self.ops.run(stop), name="operations")
                tg.create_task(self.cameras.run(stop, self._emit_camera), name="cameras")
                workers = [
                    tg.create_task(self.southbound.run(), name="southbound"),
                    tg.create_task(self._watch_devices(), name="devices-reload"),
                    tg.create_task(self._decide(), name="rules"),
                    tg.create_task(self._tick(), name="rules-clock"),
                    tg.create_task(self._watch_rules(), name="rules-reload"),
                ]
                await stop.wait()
                for task in workers:
                    task.cancel()
                await self.writer.drain()
                await uplink
        finally:
            await self.writer.drain()
            self.outbox.close()

    async def _decide(self) -> None:
        while True:
            batch = [await self.readings.get()]
            size = len(batch[0])
            while size < DECIDE_READINGS and not self.readings.empty():
                batch.append(self.readings.get_nowait())
                size += len(batch[-1])
            readings = list(itertools.chain.from_iterable(batch))
            self.counters["readings"] += len(readings)
            self.ops.on_readings(readings)
            self._emit(self.engine.process(readings))  # stored by the writer while we decide on
            if self._failed is not None:
                raise self._failed
            await asyncio.sleep(0)  # a full queue never yields: let the uplink have its turn

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            await self._emit(self.engine.tick())
            if self._failed is not None:
                raise self._failed

    # -- rule hot reload ---------------------------------------------------------------------------
    async def _watch_rules(self) -> None:
        """Reload the rules when a pack file changes; unchanged rules keep their open incidents."""
        await watch(lambda: files_stamp(rule_files(self.config.rule_packs)), self.reload_rules, RULES_POLL_S)

    async def reload_rules(self) -> bool:
        """Load the configured rule packs again; a bad pack is logged and counted, the running rules stay."""
        try:
            alerts = self.engine.reload(load_rules(self.config.rule_packs))
        except (ConfigError, RuleError) as err:
            self.counters["rules_reload_failed"] += 1
            log.error("rule reload refused, the running rules stay: %s", err)
            return False
        self.counters["rules_reloaded"] += 1
        log.info("rules reloaded: %d rules", len(self.engine.rules))
        await self._emit(alerts)  # resolutions of removed rules
        return True

    # -- devices and their hot reload (the southbound side lives in gateway/southbound.py) ------------
    def _register_devices(self, bindings: list[DeviceBinding]) -> None:
        for b in bindings:
            liveness = b.liveness
            grid = b.device.grid or self.config.gateway.grid
            labels = {
                "site": b.device.location.site,
                "address": b.device.location.address,
                "profile": b.compiled.profile.id,
                "grid": grid.grid.code,
            }
            roles = [p.role for p in b.compiled.profile.all_points() if p.role]
            self.engine.register_device(b.device.id, labels, liveness.offline_after_s if liveness else None, roles)

    async def _watch_devices(self) -> None:
        await watch(lambda: device_files_stamp(self.config), self.reload_devices, DEVICES_POLL_S)

    async def reload_devices(self) -> bool:
        """Apply changed profiles or inventory; a bad file is logged and counted, the running devices stay."""
        try:
            bindings = load_bindings(self.config)
        except ConfigError as err:
            self.counters["devices_reload_failed"] += 1
            log.error("profile/inventory reload refused, the running devices stay: %s", err)
            return False
        for gone in set(self.origins) - {b.device.id for b in bindings}:
            self.engine.register_device(gone, {}, None)  # removed: no longer watched for absence
        self.origins.update(origins(self.config, bindings))  # removed devices keep theirs: open alerts resolve
        self._register_devices(bindings)
        self.ops.on_inventory(bindings)
        self.southbound.apply(bindings)
        self.counters["devices_reloaded"] += 1
        log.info("profiles and inventory reloaded: %d devices", len(bindings))
        return True

    def _stored(self, dropped: Counter[Severity]) -> None:
        """After each outbox transaction: durable before anything else sees it, so the uplink hears now."""
        if dropped:  # the full-outbox policy gave way; the uplink's status says so at once
            log.warning("outbox full: dropped %s", dict(dropped))
            self.uplink.notify_status()
        self.uplink.notify()

    async def _emit_camera(self, messages: list[OutMessage]) -> None:
        """A camera incident: its snapshot, then its event."""
        await self.writer.put(messages)
        self.counters["camera_events"] += 1

    def _emit(self, alerts: list[Alert]) -> asyncio.Future[None]:
        """Alerts become grid events in the outbox, committed with the rules' state changes of the same
        step (await the result to wait until both are stored); the log lines and the local view follow
        the commit."""
        messages = [event_message(to_grid_event(a, self.origins[a.device_id])) for a in alerts]
        changes = self.engine.changes()
        if not messages and not changes:
            stored = asyncio.get_running_loop().create_future()
            stored.set_result(None)
            return stored
        stored = self.writer.put(messages, {RULES_STATE + k: v for k, v in changes.items()})
        if not messages:
            return stored
        stored.add_done_callback(lambda done: self._emitted(alerts, done))
        return stored

    def _emitted(self, alerts: Sequence[Alert], stored: asyncio.Future[None]) -> None:
        if stored.cancelled() or stored.exception() is not None:
            self._failed = self._failed or (stored.exception() or asyncio.CancelledError())
            log.critical("outbox write failed, the agent stops: %s", self._failed)
            return
        self.counters["events"] += len(alerts)
        for a in alerts:
            log.info("event %s seq %d %s %s: %s", a.event_id, a.seq, a.status.value, a.category, a.title)
        self.ops.on_alerts(alerts)
