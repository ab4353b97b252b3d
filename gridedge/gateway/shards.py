"""All cores: the agent's MQTT devices split across worker processes (`runtime.shards` > 1).

Per message the work is parsing MQTT, decoding JSON and deciding; a Python process does it on one
core. Shipping raw readings to worker processes would cost about as much as deciding them, so each
shard does the whole step itself: it holds its own persistent MQTT session (client id
`gridedge-agent-<gateway>-shard<i>`) subscribed only to the topics of its devices, decodes, and runs
the pipeline (gateway/pipeline.py) with its own rules engine. Only the outcome crosses the pipe: the
step's grid events and the rules' state changes, as one `put` to the main process, whose ONE outbox
writer commits them (group commit, with every other shard's) and whose ONE uplink sends them. The
main process answers "committed"; only then does the shard acknowledge the messages (PUBACK), so a
kill -9 of any process never loses an acknowledged reading: the broker sends the rest again. A step
that changed nothing (most heartbeats) sends nothing: it completes after the step before it. What a
process sends in one turn of its event loop goes as one frame, so a burst costs a write per turn.

Devices are split by site (crc32 of the site name, modulo the shard count): a site's devices share a
shard, so site correlation and inhibition hold, and each device's messages come in order on its one
session. The main process keeps what is not MQTT: Modbus buses (its own pipeline decides them, so a
site with both Modbus and MQTT devices does not correlate across the two while sharded), cameras,
the outbox, the uplink, the local API and /metrics.

The rules' durable state (rules/durable.py keys in the outbox's state table) has one layout whatever
the count: each process restores only the records of its own devices (`part`), silences go to every
process. So a restart with another shard count continues every open incident. What the broker queued
for the old sessions while the agent was down stays with those client ids: change the count on a
clean stop (docs/architecture.md).

Control (ControlPort: silences, reloads, a pushed pack) is done in the main process, then in every
shard (`Shards.control`); the main process alone watches the files. Flood limits and holds are per
process (each engine counts its own incidents). The read side gets the shards' counters and the
latest value of each point every STATUS_S, coalesced, never per reading; telemetry then sees those
latest values, not every reading. A shard that dies is started again with the state its committed
steps left; its unacknowledged messages come again from the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import multiprocessing
import operator
import os
import pickle
import signal
import socket
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gridedge.cloud_bridge.message import OutMessage
from gridedge.cloud_bridge.outbox import Outbox
from gridedge.cloud_bridge.writer import StorageCondition
from gridedge.devices.binding import DeviceBinding
from gridedge.devices.decode import CompiledProfile
from gridedge.edge.alert import Alert
from gridedge.edge.clock import SystemClock
from gridedge.edge.reading import Reading
from gridedge.gateway.pipeline import STOP_SOUTHBOUND_S, Pipeline, Share, load_rules, rules_state
from gridedge.gateway.runtime import tune_process
from gridedge.gateway.settings import GatewayConfig
from gridedge.gateway.southbound import load_bindings
from gridedge.rules import durable
from gridedge.rules.model import RulePack

log = logging.getLogger(__name__)

MAIN = -1
"""The main process's part: devices no shard takes (Modbus)."""
STATUS_S = 0.2
"""How often a shard reports its counters and its points' latest values (coalesced)."""
RESTART_S = 1.0
CONTROL_TIMEOUT_S = 30.0
ACTIONS = frozenset({"reload_rules", "reload_devices", "replace_rules", "adopt_silence", "expire_silence"})
_HEADER = struct.Struct("!I")
_point = operator.attrgetter("device_id", "point")

Message = tuple[Any, ...]


# -- who decides what ------------------------------------------------------------------------------
def shard_of(site: str, count: int) -> int:
    """Stable across processes and runs (Python's hash() of a str is not)."""
    return zlib.crc32(site.encode()) % count


def owner(b: DeviceBinding, count: int) -> int:
    """The shard of an MQTT device (by its site), MAIN for any other."""
    if not isinstance(b.compiled, CompiledProfile):  # the MQTT router's own test (devices/drivers/mqtt.py)
        return MAIN
    return shard_of(b.device.location.site or b.device.id, count)


def _owned(index: int, count: int, b: DeviceBinding) -> bool:
    return owner(b, count) == index


def share_of(index: int, count: int) -> Share:
    owns = functools.partial(_owned, index, count)
    if index == MAIN:
        return Share(owns=owns, mqtt=False)
    return Share(owns=owns, mqtt=True, watch_files=False, client_suffix=f"-shard{index}")


def part(state: Mapping[str, Any], index: int, count: int, bindings: Sequence[DeviceBinding]) -> dict[str, Any]:
    """The rules' committed state (`rules_state`) a part restores: its devices' records, and every silence.
    A record of a device gone from the inventory goes where its site would."""
    owners = {b.device.id: owner(b, count) for b in bindings}

    def owner_of(key: str, rec: Any) -> int | None:
        if key.startswith(durable.SILENCE):
            return None
        site: str | None = None
        if key.startswith(durable.DEVICE):
            device = key.removeprefix(durable.DEVICE)
        elif key.startswith(durable.TRACK):
            parsed = durable.parse_track_key(key)
            device, site = (parsed[1] if parsed else ""), rec.get("site")
        elif key.startswith(durable.INCIDENT):
            device, site = rec.get("device_id", ""), rec.get("site")
        else:
            return MAIN
        if device in owners:
            return owners[device]
        return shard_of(site, count) if site else MAIN

    return {k: v for k, v in state.items() if owner_of(k, v) in (None, index)}


# -- the pipe ----------------------------------------------------------------------------------------
class _Pipe:
    """Messages over a socket pair: what is sent in one turn of the event loop goes as one frame (a
    length-prefixed pickle of the list), so a busy shard pays one write and one read per turn, not per
    message; asyncio's streams buffer, so a send never blocks either side."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self.writer = writer
        self._out: list[Message] = []

    def send(self, message: Message) -> None:
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(message)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if not self.writer.is_closing():
            data = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
            self.writer.write(_HEADER.pack(len(data)) + data)

    async def receive(self) -> list[Message] | None:
        """The next frame's messages; None when the other side is gone."""
        try:
            (size,) = _HEADER.unpack(await self._reader.readexactly(_HEADER.size))
            messages: list[Message] = pickle.loads(await self._reader.readexactly(size))  # noqa: S301 - our own child
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return messages


# -- the main process's side -----------------------------------------------------------------------
class _Worker:
    """One shard process as the main process sees it."""

    def __init__(self, index: int, process: multiprocessing.process.BaseProcess, pipe: _Pipe) -> None:
        self.index = index
        self.process = process
        self.pipe = pipe
        self.status: dict[str, Any] = {}
        self.last_stored: asyncio.Future[None] | None = None
        self.calls: dict[int, asyncio.Future[object]] = {}
        self.ended = asyncio.Event()
        self.serving: asyncio.Task[None] | None = None

    def send(self, message: Message) -> None:
        if not self.ended.is_set():
            self.pipe.send(message)

    def committed(self, n: int, stored: asyncio.Future[None]) -> None:
        failed = stored.cancelled() or stored.exception() is not None
        self.send(("committed", n, repr(stored.exception()) if failed and not stored.cancelled() else None))


class Shards:
    """Starts, feeds and supervises the shard processes; the main pipeline's `peers` (pipeline.Peers)."""

    def __init__(self, config: GatewayConfig, pipeline: Pipeline, outbox: Outbox) -> None:
        self.count = config.runtime.shards
        self._config = config
        self._pipeline = pipeline
        self._outbox = outbox
        self._workers: dict[int, _Worker] = {}
        self._retired: dict[str, Counter[str]] = {"mqtt": Counter(), "pipeline": Counter()}  # of shards restarted
        self._pack: RulePack | None = None  # a pack pushed in memory: a restarted shard gets it too
        self._stopping = False
        self._calls = itertools.count()
        self._context = multiprocessing.get_context("spawn")  # no copy of the main's threads or sockets

    async def run(self) -> None:
        """Keep every shard running until `stop`; a shard that ends otherwise is started again."""
        try:
            async with asyncio.TaskGroup() as tg:
                for i in range(self.count):
                    tg.create_task(self._keep(i), name=f"shard-{i}")
        finally:
            for w in self._workers.values():
                if w.process.is_alive():
                    w.process.kill()

    async def _keep(self, index: int) -> None:
        while not self._stopping:
            committed = await asyncio.to_thread(rules_state, self._outbox)
            worker = await self._start(index, part(committed, index, self.count, self._pipeline.bindings))
            await worker.ended.wait()
            if self._stopping:
                return
            log.error(
                "shard %d ended (exit code %s); starting it again: the broker sends what it had not acknowledged",
                index,
                worker.process.exitcode,
            )
            self._pipeline.count("shard_restarts")
            for kind, counted in self._retired.items():  # counters keep counting up across a restart
                counted.update(worker.status.get(kind, {}))
            if worker.last_stored is not None:  # its last steps committed before the state is read again
                await asyncio.wait([worker.last_stored])
            await asyncio.sleep(RESTART_S)

    async def _start(self, index: int, state: dict[str, Any]) -> _Worker:
        mine, theirs = socket.socketpair()
        process = self._context.Process(
            target=run_shard,
            args=(ShardSpec(self._config, index, self.count, state, self._pack, logging.getLogger().level), theirs),
            name=f"gridedge-shard-{index}",
            daemon=True,
        )
        process.start()
        theirs.close()
        reader, writer = await asyncio.open_connection(sock=mine)
        worker = self._workers[index] = _Worker(index, process, _Pipe(reader, writer))
        asyncio.get_running_loop().add_reader(process.sentinel, self._ended, worker)
        worker.serving = asyncio.create_task(self._serve(worker), name=f"shard-{index}-pipe")
        log.info("shard %d started (pid %s)", index, process.pid)
        return worker

    async def _serve(self, worker: _Worker) -> None:
        try:
            while (messages := await worker.pipe.receive()) is not None:
                for message in messages:
                    self._take(worker, message)
        finally:
            worker.pipe.writer.close()
            for call in worker.calls.values():
                if not call.done():
                    call.set_result(None)  # a restarted shard takes it from the committed state (or `_pack`)
            if worker.process.is_alive():  # it closed the pipe yet runs on: it cannot commit anything more
                worker.process.kill()

    def _take(self, worker: _Worker, message: Message) -> None:
        p = self._pipeline
        kind = message[0]
        if kind == "put":
            _, n, messages, state = message
            stored = p.writer.put(messages, state)
            worker.last_stored = stored
            stored.add_done_callback(functools.partial(worker.committed, n))
        elif kind == "alerts":
            p.tell(alerts=message[1])
        elif kind == "status":
            status, latest, changed = message[1:]
            worker.status = status
            p.tell(readings=latest)
            if changed:
                p.status_changed()
        elif kind == "done":
            call = worker.calls.pop(message[1], None)
            if call is not None and not call.done():
                call.set_result(message[2])

    @staticmethod
    def _ended(worker: _Worker) -> None:
        """The process is gone (its sentinel): reap it."""
        asyncio.get_running_loop().remove_reader(worker.process.sentinel)
        worker.process.join(timeout=1.0)
        worker.ended.set()

    # -- pipeline.Peers ---------------------------------------------------------------------------------
    async def control(self, action: str, *args: object) -> list[object]:
        if action == "replace_rules" and isinstance(args[0], RulePack):
            self._pack = args[0]
        elif action == "reload_rules":
            self._pack = None
        loop = asyncio.get_running_loop()
        calls = []
        for w in self._workers.values():
            if w.ended.is_set():
                continue
            n = next(self._calls)
            w.calls[n] = call = loop.create_future()
            w.send(("control", n, action, args))
            calls.append(call)
        if not calls:
            return []
        done, _ = await asyncio.wait(calls, timeout=CONTROL_TIMEOUT_S)
        return [c.result() if c in done else False for c in calls]

    async def stop(self) -> None:
        self._stopping = True
        for w in self._workers.values():
            w.send(("stop",))
        waits = [asyncio.create_task(w.ended.wait()) for w in self._workers.values()]
        if waits:
            _, late = await asyncio.wait(waits, timeout=STOP_SOUTHBOUND_S)
            for t in late:
                t.cancel()
            for w in self._workers.values():
                if not w.ended.is_set():
                    log.warning("shard %d did not stop in time; killed (the broker sends its backlog again)", w.index)
                    w.process.kill()

    def connected(self) -> bool:
        return len(self._workers) == self.count and all(
            w.status.get("connected") and not w.ended.is_set() for w in self._workers.values()
        )

    def counters(self, kind: str) -> Counter[str]:
        total: Counter[str] = Counter(self._retired.get(kind, {}))
        for w in list(self._workers.values()):
            total.update(w.status.get(kind, {}))
        return total


# -- the shard process's side ----------------------------------------------------------------------
class _RemoteStore:
    """pipeline.Store across the pipe: the main process's writer commits; it answers in put order."""

    def __init__(self, send: Callable[[Message], None]) -> None:
        self._send = send
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._last: asyncio.Future[None] | None = None
        self._ids = itertools.count()

    def put(
        self, messages: Sequence[OutMessage], state: Mapping[str, object | None] | None = None
    ) -> asyncio.Future[None]:
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not messages and not state:  # nothing to commit: done when what was put before it is
            if self._last is None or self._last.done():
                stored.set_result(None)
            else:
                self._last.add_done_callback(functools.partial(_follow, stored))
            return stored
        n = next(self._ids)
        self._waiting[n] = self._last = stored
        self._send(("put", n, list(messages), dict(state or {})))
        return stored

    def committed(self, n: int, error: str | None) -> None:
        stored = self._waiting.pop(n, None)
        if stored is None or stored.done():
            return
        if error is None:
            stored.set_result(None)
        else:
            stored.set_exception(RuntimeError(f"the main process could not commit: {error}"))

    def condition(self) -> StorageCondition:
        return StorageCondition(None, 0, {})  # the main process's writer reports the real one

    async def drain(self) -> None:
        if self._waiting:
            await asyncio.wait(list(self._waiting.values()), timeout=STOP_SOUTHBOUND_S)


def _follow(follower: asyncio.Future[None], leader: asyncio.Future[None]) -> None:
    if follower.done():
        return
    failed = asyncio.CancelledError() if leader.cancelled() else leader.exception()
    if failed is not None:
        follower.set_exception(failed)
    else:
        follower.set_result(None)


class _Report:
    """A pipeline observer in the shard: alerts go to the main process once committed; readings are
    coalesced to the latest per point and sent with the counters every STATUS_S."""

    def __init__(self, send: Callable[[Message], None]) -> None:
        self._send = send
        self.latest: dict[tuple[str, str], Reading] = {}
        self.changed = asyncio.Event()

    def on_readings(self, readings: Sequence[Reading]) -> None:
        self.latest.update(zip(map(_point, readings), readings, strict=True))

    def on_alerts(self, alerts: Sequence[Alert]) -> None:
        self._send(("alerts", list(alerts)))

    def on_inventory(self, bindings: Sequence[DeviceBinding]) -> None:
        pass

    def report(self, pipeline: Pipeline, changed: bool) -> None:
        status = {
            "connected": pipeline.southbound.mqtt.connected,
            "mqtt": dict(pipeline.southbound.router.counters),
            "pipeline": dict(pipeline.counters),
            "held": dict(pipeline.engine.held()),
        }
        latest, self.latest = list(self.latest.values()), {}
        self._send(("status", status, latest, changed))

    async def run(self, pipeline: Pipeline) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), STATUS_S)
            changed = self.changed.is_set()
            self.changed.clear()
            self.report(pipeline, changed)


@dataclass(frozen=True)
class ShardSpec:
    """What a shard process is started with (pickled by multiprocessing)."""

    config: GatewayConfig
    index: int
    count: int
    state: dict[str, Any]  # its part of the rules' committed state
    pack: RulePack | None  # a pack pushed in memory, else the configured files
    log_level: int


def run_shard(spec: ShardSpec, sock: socket.socket) -> None:
    """A shard process's entry point (multiprocessing, spawn)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process stops the shards, in order
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fmt = f"%(asctime)s %(levelname)s shard-{spec.index} %(name)s: %(message)s"
    logging.basicConfig(level=spec.log_level, format=fmt)
    asyncio.run(_shard(spec, sock))


async def _shard(spec: ShardSpec, sock: socket.socket) -> None:
    config, index, count = spec.config, spec.index, spec.count
    pipe = _Pipe(*await asyncio.open_connection(sock=sock))
    send = pipe.send
    store = _RemoteStore(send)
    report = _Report(send)
    pipeline = Pipeline(
        config,
        load_bindings(config),
        spec.pack or load_rules(config.rule_packs),
        store,
        spec.state,
        clock=SystemClock(),
        on_status=report.changed.set,
        share=share_of(index, count),
    )
    pipeline.observe(report)
    tune_process(config.runtime)
    stop = asyncio.Event()

    controls: set[asyncio.Task[None]] = set()

    async def control(n: int, action: str, args: tuple[object, ...]) -> None:
        result: object = None
        try:
            if action in ACTIONS:
                result = await getattr(pipeline, action)(*args)
        except LookupError:  # a silence this shard's engine no longer has (it ended here too)
            result = None
        except Exception:
            log.exception("shard %d: %s failed", index, action)
            result = False
        send(("done", n, result if isinstance(result, bool) else None))

    def take(message: Message) -> None:
        kind = message[0]
        if kind == "committed":
            store.committed(message[1], message[2])
        elif kind == "control":
            task = asyncio.create_task(control(*message[1:]))  # not awaited: it waits on commits read here
            controls.add(task)
            task.add_done_callback(controls.discard)
        elif kind == "stop":
            stop.set()

    async def listen() -> None:
        while (messages := await pipe.receive()) is not None:
            for message in messages:
                take(message)
        log.error("shard %d: the main process is gone; the broker sends again what was not acknowledged", index)
        os._exit(1)

    log.info("shard %d of %d: %d devices", index, count, len(pipeline.southbound.router.device_ids()))
    async with asyncio.TaskGroup() as tg:
        tg.create_task(listen(), name="pipe")
        workers = pipeline.tasks(tg)
        reporting = tg.create_task(report.run(pipeline), name="report")
        await stop.wait()
        await pipeline.stop_southbound()
        for task in [*workers, reporting]:
            task.cancel()
        await store.drain()
        report.report(pipeline, True)
        await asyncio.sleep(0)  # the last frame is written
        await pipe.writer.drain()
    os._exit(0)  # the pipe listener stays blocked on the main process
