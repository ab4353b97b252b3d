"""The alarm path: drivers -> rules -> outbox. Readings in, grid events durable on disk.

It decides nothing itself. Readings flow through a bounded queue whose policy when full is to make
the driver wait (back-pressure onto the broker session, which holds QoS 1 messages for us), never to
drop: an alarm must not be lost to a burst of heartbeats. Rule packs, profiles and the inventory are
reloaded while it runs (file changes, or the `ControlPort` it implements: gateway/ports.py).

Plug points: the rules engine is made in `__init__` (rule state that survives a restart starts
there); readings enter in `_decide` (a driver that acknowledges after the commit hooks there).

Durable decisions: the engine's state changes of each step (rules/durable.py) go into the same
outbox transaction as the step's events (`emit`), and the engine restores them at start, so a
restart continues every open incident under its event_id. The future `emit` returns is done when
both are committed: "decided and committed", the moment a southbound message may be acknowledged.
While the disk refuses writes the writer keeps events in bounded memory and deciding goes on.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from gridedge.cloud_bridge.message import OutMessage, event_message
from gridedge.cloud_bridge.outbox import Outbox
from gridedge.cloud_bridge.writer import OutboxWriter, StorageCondition
from gridedge.devices.binding import DeviceBinding
from gridedge.edge.alert import Alert, Origin, to_grid_event
from gridedge.edge.clock import Clock
from gridedge.edge.errors import ConfigError
from gridedge.edge.event import Severity
from gridedge.edge.reading import Reading
from gridedge.gateway.settings import GatewayConfig
from gridedge.gateway.southbound import Southbound, device_files_stamp, load_bindings
from gridedge.gateway.watch import files_stamp, watch
from gridedge.rules.engine import RuleEngine
from gridedge.rules.hygiene import ActiveSilence
from gridedge.rules.model import BUILTIN_PACKS, RuleError, RulePack, Silence, load_rule_pack, merge_packs

log = logging.getLogger(__name__)

READING_QUEUE_BATCHES = 64  # driver batches (a socket read or a poll each): the rest waits in the broker
DECIDE_READINGS = 2048  # per turn of the event loop: a few ms, so the uplink is never kept waiting long
TICK_S = 1.0
RULES_POLL_S = 2.0  # how often the rule pack files are checked for changes (hot reload)
DEVICES_POLL_S = 2.0  # how often profiles and the inventory file are checked for changes (hot reload)
RULES_STATE = "rules:"
"""The rules engine's keys in the outbox's state table."""


def rules_state(outbox: Outbox) -> dict[str, Any]:
    """What the rules decided in earlier runs, as committed."""
    return {k.removeprefix(RULES_STATE): v for k, v in outbox.load_state(RULES_STATE).items()}


def rule_files(paths: list[Path] | None) -> list[Path]:
    return paths if paths is not None else sorted(BUILTIN_PACKS.glob("*.yaml"))


def load_rules(paths: list[Path] | None) -> RulePack:
    return merge_packs([load_rule_pack(f) for f in rule_files(paths)])


def origins(config: GatewayConfig, bindings: list[DeviceBinding]) -> dict[str, Origin]:
    gw = config.gateway
    return {
        b.device.id: Origin(gw.id, b.device.grid or gw.grid, b.device.location, b.compiled.profile.id) for b in bindings
    }


class PipelineObserver(Protocol):
    """Told what went through, off the alarm path (gateway/ops.py: local state and telemetry)."""

    def on_readings(self, readings: Sequence[Reading]) -> None: ...

    def on_alerts(self, alerts: Sequence[Alert]) -> None:
        """After the alerts' events are durable in the outbox."""
        ...

    def on_inventory(self, bindings: Sequence[DeviceBinding]) -> None: ...


class Pipeline:
    def __init__(
        self,
        config: GatewayConfig,
        bindings: list[DeviceBinding],
        rules: RulePack,
        outbox: Outbox,
        *,
        clock: Clock,
        on_stored: Callable[[Counter[Severity]], None],
        on_status: Callable[[], None] = lambda: None,
    ) -> None:
        """`on_stored` runs after each outbox transaction, with what the full-outbox policy dropped;
        `on_status` when something the gateway's status reports changed (storage, silences)."""
        self.config = config
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self.origins = origins(config, bindings)
        self.engine = RuleEngine(rules, clock, max_silence_s=config.max_silence_s)
        self._register_devices(bindings)
        self.outbox = outbox
        # What the rules decided before a restart; resolutions of rules removed meanwhile go out first.
        self._restored = self.engine.restore(rules_state(outbox))
        self._on_status = on_status
        self.writer = OutboxWriter(outbox, on_stored, on_failing=lambda _: on_status())  # group commit
        self.readings: asyncio.Queue[list[Reading]] = asyncio.Queue(maxsize=READING_QUEUE_BATCHES)
        self.southbound = Southbound(config, bindings, self.readings.put, clock)  # gateway/southbound.py
        self._observers: list[PipelineObserver] = []
        self._failed: BaseException | None = None

    def observe(self, observer: PipelineObserver) -> None:
        self._observers.append(observer)

    def tasks(self, tg: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
        """Start the pipeline's tasks in `tg`; cancel them to stop, then `drain` the writer."""
        self.emit(self._restored)
        self._restored = []
        return [
            tg.create_task(self.southbound.run(), name="southbound"),
            tg.create_task(self._watch_devices(), name="devices-reload"),
            tg.create_task(self._decide(), name="rules"),
            tg.create_task(self._tick(), name="rules-clock"),
            tg.create_task(self._watch_rules(), name="rules-reload"),
        ]

    async def drain(self) -> None:
        """Until every event handed over is in the outbox."""
        await self.writer.drain()

    async def _decide(self) -> None:
        while True:
            batch = [await self.readings.get()]
            size = len(batch[0])
            while size < DECIDE_READINGS and not self.readings.empty():
                batch.append(self.readings.get_nowait())
                size += len(batch[-1])
            readings = list(itertools.chain.from_iterable(batch))
            self.counters["readings"] += len(readings)
            for o in self._observers:
                o.on_readings(readings)
            self.emit(self.engine.process(readings))  # stored by the writer while we decide on
            if self._failed is not None:
                raise self._failed
            await asyncio.sleep(0)  # a full queue never yields: let the uplink have its turn

    async def _tick(self) -> None:
        reported: tuple[Counter[str], int] = (Counter(), 0)
        while True:
            await asyncio.sleep(TICK_S)
            await self.emit(self.engine.tick())
            hygiene = (self.engine.held(), len(self.engine.silences()))
            if hygiene != reported:  # held incidents or silences changed: the centre hears it within a second
                reported = hygiene
                self._on_status()
            if self._failed is not None:
                raise self._failed

    # -- events into the outbox ---------------------------------------------------------------------
    def emit(self, alerts: list[Alert]) -> asyncio.Future[None]:
        """Alerts become grid events in the outbox, committed with the rules' state changes of the same
        step (await the result to wait until both are stored); the log lines and the observers follow
        the commit."""
        messages = [event_message(to_grid_event(a, self._origin(a.device_id))) for a in alerts]
        changes = self.engine.changes()
        stored = self.writer.put(messages, {RULES_STATE + k: v for k, v in changes.items()})
        if not messages:
            return stored
        stored.add_done_callback(lambda done: self._emitted(alerts, done))
        return stored

    def _origin(self, device_id: str) -> Origin:
        """The device's place; the gateway's own for a device gone from the inventory between runs."""
        found = self.origins.get(device_id)
        if found is None:
            gw = self.config.gateway
            found = self.origins[device_id] = Origin(gw.id, gw.grid, gw.location)
        return found

    def _emitted(self, alerts: Sequence[Alert], stored: asyncio.Future[None]) -> None:
        if stored.cancelled() or stored.exception() is not None:
            self._failed = self._failed or (stored.exception() or asyncio.CancelledError())
            log.critical("outbox write failed, the agent stops: %s", self._failed)
            return
        self.counters["events"] += len(alerts)
        for a in alerts:
            log.info("event %s seq %d %s %s: %s", a.event_id, a.seq, a.status.value, a.category, a.title)
        for o in self._observers:
            o.on_alerts(alerts)

    async def emit_camera(self, messages: list[OutMessage]) -> None:
        """A camera incident: its snapshot, then its event (gateway/cameras.py made both)."""
        await self.writer.put(messages)
        self.counters["camera_events"] += 1

    # -- ControlPort (gateway/ports.py) -------------------------------------------------------------
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
        await self.emit(alerts)  # resolutions of removed rules
        return True

    async def replace_rules(self, pack: RulePack) -> None:
        await self.emit(self.engine.reload(pack))  # resolutions of removed rules go out like any event

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
        for o in self._observers:
            o.on_inventory(bindings)
        self.southbound.apply(bindings)
        self.counters["devices_reloaded"] += 1
        log.info("profiles and inventory reloaded: %d devices", len(bindings))
        return True

    async def silence(self, silence: Silence) -> ActiveSilence:
        active = self.engine.silence(silence)
        await self.emit([])  # durable before the installer or the centre hears it is set
        log.info(
            "silence %s set by %s until %s: %s", active.id, active.author, silence.ends_at.isoformat(), active.reason
        )
        self._on_status()
        return active

    async def expire_silence(self, silence_id: str) -> None:
        shown = self.engine.expire_silence(silence_id)
        await self.emit(shown)  # what it held and still fires is published now
        log.info("silence %s expired early", silence_id)
        self._on_status()

    async def write_point(self, device_id: str, point: str, value: object) -> object:
        self.counters["point_writes"] += 1
        return await self.southbound.write_point(device_id, point, value)

    def silences(self) -> list[ActiveSilence]:
        return self.engine.silences()

    def held_incidents(self) -> dict[str, int]:
        return dict(self.engine.held())

    def storage(self) -> StorageCondition:
        return self.writer.condition()

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    # -- read side ----------------------------------------------------------------------------------
    def driver_counters(self) -> dict[str, Mapping[str, int]]:
        """Per driver, for /metrics (the Modbus buses' counters, `southbound.buses`, belong here too).
        Copies (one atomic step under the GIL): a scrape on a worker thread never sees a live counter."""
        return {"mqtt": dict(self.southbound.router.counters)}

    def modbus_counters(self) -> dict[str, tuple[dict[str, int], dict[str, dict[str, int]]]]:
        """Per Modbus bus: its counts and its devices' (polls, requests, timeouts, exceptions, unavailable)."""
        return {bus: c.copy() for bus, c in list(self.southbound.modbus_counters.items())}

    # -- hot reload of files ------------------------------------------------------------------------
    async def _watch_rules(self) -> None:
        """Reload the rules when a pack file changes; unchanged rules keep their open incidents."""
        await watch(lambda: files_stamp(rule_files(self.config.rule_packs)), self.reload_rules, RULES_POLL_S)

    async def _watch_devices(self) -> None:
        await watch(lambda: device_files_stamp(self.config), self.reload_devices, DEVICES_POLL_S)

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
