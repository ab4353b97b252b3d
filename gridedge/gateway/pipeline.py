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

Shards (gateway/shards.py, `runtime.shards` > 1): the same pipeline runs in each worker process on its
`Share` of the devices, its store being the main process's writer across a pipe; the main process's
pipeline keeps the devices no shard takes (Modbus), and its `peers` reach the shards for every
ControlPort change and for the read side's counters. With one process the share is everything.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gridedge.cloud_bridge.message import OutMessage, event_message
from gridedge.cloud_bridge.outbox import Outbox
from gridedge.cloud_bridge.writer import StorageCondition
from gridedge.devices.binding import DeviceBinding
from gridedge.devices.profile import Profile
from gridedge.edge.alert import Alert, Origin, to_grid_event
from gridedge.edge.clock import Clock
from gridedge.edge.errors import ConfigError
from gridedge.edge.reading import Reading
from gridedge.gateway.settings import GatewayConfig
from gridedge.gateway.southbound import Southbound, device_files_stamp, load_bindings
from gridedge.gateway.watch import files_stamp, watch
from gridedge.rules import durable
from gridedge.rules.engine import RuleEngine
from gridedge.rules.hygiene import ActiveSilence
from gridedge.rules.model import BUILTIN_PACKS, RuleError, RulePack, Silence, load_rule_pack, merge_packs

log = logging.getLogger(__name__)

READING_QUEUE_BATCHES = 64  # driver batches (a socket read or a poll each): the rest waits in the broker
DECIDE_READINGS = 2048  # per turn of the event loop: a few ms, so the uplink is never kept waiting long
TICK_S = 1.0
RULES_POLL_S = 2.0  # how often the rule pack files are checked for changes (hot reload)
DEVICES_POLL_S = 2.0  # how often profiles and the inventory file are checked for changes (hot reload)
STOP_SOUTHBOUND_S = 15.0  # a clean stop waits this long for delivered readings to be committed and acknowledged
RULES_STATE = "rules:"
"""The rules engine's keys in the outbox's state table."""

Handed = tuple[list[Reading], "asyncio.Future[None] | None"]
"""Readings handed to the rules, with the future to complete once their effects are committed."""


def rules_state(outbox: Outbox) -> dict[str, Any]:
    """What the rules decided in earlier runs, as committed."""
    return {k.removeprefix(RULES_STATE): v for k, v in outbox.load_state(RULES_STATE).items()}


def _pass_on(stored: asyncio.Future[None], waiting: list[asyncio.Future[None]]) -> None:
    """The batch's events (and the rules' state) are durable, or failed: so are the readings that made them."""
    failed = stored.exception() if not stored.cancelled() else asyncio.CancelledError()
    for committed in waiting:
        if committed.done():
            continue
        if failed is None:
            committed.set_result(None)
        else:
            committed.set_exception(failed)


def rule_files(paths: list[Path] | None) -> list[Path]:
    return paths if paths is not None else sorted(BUILTIN_PACKS.glob("*.yaml"))


def load_rules(paths: list[Path] | None) -> RulePack:
    return merge_packs([load_rule_pack(f) for f in rule_files(paths)])


def origins(config: GatewayConfig, bindings: list[DeviceBinding]) -> dict[str, Origin]:
    gw = config.gateway
    return {
        b.device.id: Origin(gw.id, b.device.grid or gw.grid, b.device.location, b.compiled.profile.id) for b in bindings
    }


class Store(Protocol):
    """Where decisions go (cloud_bridge/writer.py OutboxWriter; in a shard, the main process's writer)."""

    def put(
        self, messages: Sequence[OutMessage], state: Mapping[str, object | None] | None = None
    ) -> asyncio.Future[None]:
        """Done once `messages` and `state`, and everything put before them, are committed."""
        ...

    def condition(self) -> StorageCondition: ...

    async def drain(self) -> None: ...


class Peers(Protocol):
    """The shard processes, as the main process's pipeline reaches them (gateway/shards.py Shards)."""

    async def control(self, action: str, *args: object) -> list[object]:
        """Run a ControlPort action in every shard; each shard's result (an exception if it failed)."""
        ...

    async def stop(self) -> None:
        """Stop reading in every shard; returns once what they read is committed and acknowledged."""
        ...

    def connected(self) -> bool: ...

    def counters(self, kind: str) -> Counter[str]:
        """Summed over the shards: "mqtt" (the router's), "pipeline" (their pipelines') or "held"."""
        ...


def _everything(_: DeviceBinding) -> bool:
    return True


@dataclass(frozen=True)
class Share:
    """Which devices a pipeline decides and which drivers it runs. One process: all of them."""

    owns: Callable[[DeviceBinding], bool] = _everything
    mqtt: bool = True  # runs a southbound MQTT session (False in a sharded agent's main process)
    watch_files: bool = True  # follows the rule, profile and inventory files (a shard is told by the main)
    client_suffix: str = ""  # of the MQTT client id: each shard keeps its own persistent session

    @property
    def whole(self) -> bool:
        return self.owns is _everything


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
        store: Store,
        restored: Mapping[str, Any],
        *,
        clock: Clock,
        on_status: Callable[[], None] = lambda: None,
        share: Share | None = None,
    ) -> None:
        """`store` commits events and rule state (the outbox writer: group commit); `restored` is the
        rule state committed by earlier runs (`rules_state`) for the devices of `share`; `on_status` runs
        when something the gateway's status reports changed (silences, held incidents)."""
        self.config = config
        self.clock = clock
        self.share = share or Share()
        self.counters: Counter[str] = Counter()
        self.origins = origins(config, bindings)
        self.bindings = bindings  # the whole inventory: the installer's view and `profile_of`
        mine = [b for b in bindings if self.share.owns(b)]
        self._owned = {b.device.id for b in mine}
        self.engine = RuleEngine(rules, clock, max_silence_s=config.max_silence_s)
        self._register_devices(mine)
        # What the rules decided before a restart; resolutions of rules removed meanwhile go out first.
        self._restored = self.engine.restore(restored)
        self._on_status = on_status
        self.writer = store
        self.peers: Peers | None = None  # the shards, in a sharded agent's main process (gateway/shards.py)
        self.readings: asyncio.Queue[Handed] = asyncio.Queue(maxsize=READING_QUEUE_BATCHES)
        self.southbound = Southbound(  # gateway/southbound.py
            config,
            mine,
            self.take,
            clock,
            self.take_committed,
            client_suffix=self.share.client_suffix,
            run_mqtt=self.share.mqtt,
            per_device_topics=not self.share.whole,
        )
        self._southbound_stop = asyncio.Event()
        self._southbound_task: asyncio.Task[None] | None = None
        self._observers: list[PipelineObserver] = []
        self._failed: BaseException | None = None
        self._southbound_down = False

    def observe(self, observer: PipelineObserver) -> None:
        self._observers.append(observer)

    def tasks(self, tg: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
        """Start the pipeline's tasks in `tg`; cancel them to stop, then `drain` the writer."""
        self.emit(self._restored)
        self._restored = []
        self._southbound_task = tg.create_task(self.southbound.run(self._southbound_stop), name="southbound")
        tasks = [
            self._southbound_task,
            tg.create_task(self._decide(), name="rules"),
            tg.create_task(self._tick(), name="rules-clock"),
        ]
        if self.share.watch_files:
            tasks.append(tg.create_task(self._watch_devices(), name="devices-reload"))
            tasks.append(tg.create_task(self._watch_rules(), name="rules-reload"))
        return tasks

    async def drain(self) -> None:
        """Until every event handed over is in the outbox."""
        await self.writer.drain()

    async def stop_southbound(self) -> None:
        """The first step of a clean stop: read no more from the devices' broker, decide what it
        delivered, commit it and acknowledge it (the rules must still be running)."""
        self._southbound_stop.set()
        if self.peers is not None:
            await self.peers.stop()
        if self._southbound_task is not None:
            await asyncio.wait([self._southbound_task], timeout=STOP_SOUTHBOUND_S)

    async def take(self, readings: list[Reading]) -> None:
        """Polled readings (Modbus): a crash before they are decided costs nothing, the next poll reads again."""
        await self.readings.put((readings, None))

    async def take_committed(self, readings: list[Reading]) -> asyncio.Future[None]:
        """Readings from a broker: the future is done once they are decided and their events committed."""
        committed = asyncio.get_running_loop().create_future()
        await self.readings.put((readings, committed))
        return committed

    async def _decide(self) -> None:
        while True:
            batch = [await self.readings.get()]
            size = len(batch[0][0])
            while size < DECIDE_READINGS and not self.readings.empty():
                batch.append(self.readings.get_nowait())
                size += len(batch[-1][0])
            readings = list(itertools.chain.from_iterable(r for r, _ in batch))
            self.counters["readings"] += len(readings)
            for o in self._observers:
                o.on_readings(readings)
            stored = self.emit(self.engine.process(readings))  # stored by the writer while we decide on
            waiting = [c for _, c in batch if c is not None]
            if waiting:
                stored.add_done_callback(functools.partial(_pass_on, waiting=waiting))
            if self._failed is not None:
                raise self._failed
            await asyncio.sleep(0)  # a full queue never yields: let the uplink have its turn

    async def _tick(self) -> None:
        reported: tuple[Counter[str], int] = (Counter(), 0)
        while True:
            await asyncio.sleep(TICK_S)
            self._follow_southbound()
            await self.emit(self.engine.tick())
            hygiene = (self.engine.held(), len(self.engine.silences()))
            if hygiene != reported:  # held incidents or silences changed: the centre hears it within a second
                reported = hygiene
                self._on_status()
            if self._failed is not None:
                raise self._failed

    def _follow_southbound(self) -> None:
        """While the southbound broker is down its devices cannot be heard: that silence is the
        broker's, not theirs, so it is not judged as their absence (a broker outage raises no
        `device.offline`); once it is back each has the time to be heard it would have after a restart."""
        if not self.share.mqtt:
            return
        devices = self.southbound.router.device_ids()
        if self.southbound.mqtt.connected:
            if self._southbound_down:
                self.engine.link_up(devices)
                self._southbound_down = False
        else:
            self.engine.link_down(devices)  # again each tick: devices added meanwhile are covered too
            self._southbound_down = True

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
        self.tell(alerts=alerts)

    def tell(self, readings: Sequence[Reading] = (), alerts: Sequence[Alert] = ()) -> None:
        """The observers hear these readings (decided) and alerts (committed); a shard's come through here."""
        for o in self._observers:
            if readings:
                o.on_readings(readings)
            if alerts:
                o.on_alerts(alerts)

    def status_changed(self) -> None:
        self._on_status()

    async def emit_camera(self, messages: list[OutMessage], state: Mapping[str, object | None]) -> None:
        """A camera incident: its snapshot, then its event (gateway/cameras.py made both), with the
        open-incident record it changed, in one transaction."""
        await self.writer.put(messages, state)
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
        return await self._peers_agree("reload_rules")

    async def replace_rules(self, pack: RulePack) -> None:
        await self.emit(self.engine.reload(pack))  # resolutions of removed rules go out like any event
        await self._peers_agree("replace_rules", pack)

    async def _peers_agree(self, action: str, *args: object) -> bool:
        """The shards do it too (a refusal there is logged by the shard): True when all did."""
        if self.peers is None:
            return True
        results = await self.peers.control(action, *args)
        return all(r is True or r is None for r in results)

    async def reload_devices(self) -> bool:
        """Apply changed profiles or inventory; a bad file is logged and counted, the running devices stay."""
        try:
            bindings = load_bindings(self.config)
        except ConfigError as err:
            self.counters["devices_reload_failed"] += 1
            log.error("profile/inventory reload refused, the running devices stay: %s", err)
            return False
        mine = [b for b in bindings if self.share.owns(b)]
        before = set(self.origins) if self.share.whole else self._owned
        for gone in before - {b.device.id for b in mine}:
            self.engine.register_device(gone, {}, None)  # removed: no longer watched for absence
        self._owned = {b.device.id for b in mine}
        self.origins.update(origins(self.config, bindings))  # removed devices keep theirs: open alerts resolve
        self.bindings = bindings
        self._register_devices(mine)
        for o in self._observers:
            o.on_inventory(bindings)
        self.southbound.apply(mine)
        self.counters["devices_reloaded"] += 1
        log.info("profiles and inventory reloaded: %d devices", len(mine))
        return await self._peers_agree("reload_devices")

    async def silence(self, silence: Silence) -> ActiveSilence:
        active = self.engine.silence(silence)
        await self.emit([])  # durable before the installer or the centre hears it is set
        log.info(
            "silence %s set by %s until %s: %s", active.id, active.author, silence.ends_at.isoformat(), active.reason
        )
        await self._peers_agree("adopt_silence", active.record())
        self._on_status()
        return active

    async def adopt_silence(self, record: dict[str, Any]) -> None:
        """A silence the main process set and committed (a shard's engine takes it as it was)."""
        await self.emit(self.engine.restore({durable.SILENCE + str(record["id"]): record}))

    async def expire_silence(self, silence_id: str) -> None:
        shown = self.engine.expire_silence(silence_id)
        await self.emit(shown)  # what it held and still fires is published now
        log.info("silence %s expired early", silence_id)
        await self._peers_agree("expire_silence", silence_id)
        self._on_status()

    async def write_point(self, device_id: str, point: str, value: object) -> object:
        self.counters["point_writes"] += 1
        return await self.southbound.write_point(device_id, point, value)

    def silences(self) -> list[ActiveSilence]:
        return self.engine.silences()

    def held_incidents(self) -> dict[str, int]:
        held = self.engine.held()
        if self.peers is not None:
            held += self.peers.counters("held")
        return dict(held)

    def storage(self) -> StorageCondition:
        return self.writer.condition()

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    # -- read side ----------------------------------------------------------------------------------
    def driver_counters(self) -> dict[str, Mapping[str, int]]:
        """Per driver, for /metrics (the Modbus buses' counters, `southbound.buses`, belong here too).
        Copies (one atomic step under the GIL): a scrape on a worker thread never sees a live counter."""
        if self.peers is not None:
            return {"mqtt": dict(self.peers.counters("mqtt"))}
        return {"mqtt": dict(self.southbound.router.counters)}

    def all_counters(self) -> dict[str, int]:
        """The pipeline's counters, with its shards' added."""
        if self.peers is None:
            return dict(self.counters)
        return dict(self.counters + self.peers.counters("pipeline"))

    def southbound_connected(self) -> bool:
        return self.peers.connected() if self.peers is not None else self.southbound.mqtt.connected

    def profile_of(self, device_id: str) -> Profile | None:
        """The profile a device of the running inventory is decoded with."""
        return next((b.compiled.profile for b in self.bindings if b.device.id == device_id), None)

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
