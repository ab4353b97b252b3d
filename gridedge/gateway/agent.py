"""The gateway agent: the composition root. It builds the services, wires them and runs them.

    drivers -> Pipeline (gateway/pipeline.py: rules, outbox) -> Uplink (cloud_bridge/uplink.py)
    Pipeline -> Operations (gateway/ops.py: local state, telemetry, local API, /metrics)
    Uplink's downlink commands -> AgentCommands (gateway/bridge.py) -> ControlPort (the pipeline)
    CameraFeed (gateway/cameras.py) -> Pipeline's outbox
    Shards (gateway/shards.py, runtime.shards > 1): MQTT devices decided in worker processes -> Pipeline's outbox

Consumers get narrow ports (gateway/ports.py), never the agent; nothing but the CLI and the tests
imports this module. It decides nothing and keeps no state of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from gridedge.cloud_bridge.outbox import Outbox
from gridedge.cloud_bridge.writer import OutboxWriter
from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.event import Severity
from gridedge.gateway.bridge import AgentCommands, make_uplink, status_report
from gridedge.gateway.cameras import CameraFeed
from gridedge.gateway.ops import Operations
from gridedge.gateway.pipeline import Pipeline, load_rules, rules_state
from gridedge.gateway.readmodel import GatewayReadModel
from gridedge.gateway.settings import GatewayConfig
from gridedge.gateway.shards import MAIN, Shards, part, share_of
from gridedge.gateway.southbound import load_bindings
from gridedge.gateway.state import LocalState, device_views
from gridedge.vision.incidents import STATE_PREFIX as CAMERA_INCIDENTS

log = logging.getLogger(__name__)


class Agent:
    def __init__(self, config: GatewayConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        gw = config.gateway
        bindings = load_bindings(config)
        rules = load_rules(config.rule_packs)  # a bad file fails here, before anything is opened
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(config.state_dir / "outbox.db", bound=config.uplink.outbox.bound())
        writer = OutboxWriter(self.outbox, self._stored, on_failing=lambda _: self._status_changed())  # group commit
        restored = rules_state(self.outbox)
        shards = config.runtime.shards
        if shards > 1:  # this process keeps the Modbus devices; the shard processes the MQTT ones (gateway/shards.py)
            restored = part(restored, MAIN, shards, bindings)
        share = share_of(MAIN, shards) if shards > 1 else None
        self.pipeline = Pipeline(
            config, bindings, rules, writer, restored, clock=self.clock, on_status=self._status_changed, share=share
        )
        self.shards = Shards(config, self.pipeline, self.outbox) if shards > 1 else None
        self.pipeline.peers = self.shards
        self.commands = AgentCommands(self.pipeline, self.outbox, config)  # downlink commands from the centre
        self.uplink = make_uplink(
            config, self.outbox, self.commands, self.clock, report=lambda: status_report(self.read, config)
        )
        open_incidents = self.outbox.load_state(CAMERA_INCIDENTS)  # the camera incidents a previous run left open
        self.cameras = CameraFeed(
            config.cameras, gw.id, gw.grid, gw.location, open_incidents=open_incidents, state_dir=config.state_dir
        )
        state = LocalState(device_views(bindings), self.clock)
        self.read = GatewayReadModel(gw.id, state, self.outbox, self.uplink, self.cameras, self.pipeline)
        self.ops = Operations(config, self.read, self.pipeline)  # local API, metrics, telemetry
        self.pipeline.observe(self.ops)

    async def run(self, stop: asyncio.Event) -> None:
        """Run every part as a named task until `stop` is set, then shut down in order."""
        p = self.pipeline
        log.info("agent %s: %d devices, %d rules", self.config.gateway.id, len(p.origins), len(p.engine.rules))
        try:
            async with asyncio.TaskGroup() as tg:
                uplink = tg.create_task(self.uplink.run(stop), name="uplink")
                tg.create_task(self.ops.run(stop), name="operations")
                tg.create_task(self.cameras.run(stop, p.emit_camera), name="cameras")
                workers = p.tasks(tg)
                if self.shards is not None:
                    workers.append(tg.create_task(self.shards.run(), name="shards"))
                await stop.wait()
                await p.stop_southbound()  # no more readings; those delivered are decided, committed, acknowledged
                for task in workers:
                    task.cancel()
                await p.drain()
                await uplink
        finally:
            await p.drain()
            self.outbox.close()

    def _status_changed(self) -> None:
        """Storage trouble began or ended, or a silence was set or expired: the centre hears it now."""
        self.uplink.notify_status()

    def _stored(self, dropped: Counter[Severity]) -> None:
        """After each outbox transaction: durable before anything else sees it, so the uplink hears now."""
        if dropped:  # the full-outbox policy gave way; the uplink's status says so at once
            log.warning("outbox full: dropped %s", dict(dropped))
            self.uplink.notify_status()
        self.uplink.notify()
