"""The cloud bridge wired into the agent: the uplink as configured, and the agent's downlink commands.

Command handlers live here, not in the bridge, because they act on the agent's parts (the rules
engine, the outbox); the bridge only verifies and routes (cloud_bridge/downlink.py).
- ack: an officer took the event in hand; logged and kept (`acks`, newest last, bounded).
- ping: answers with version, queue depth and uptime-independent figures.
- silence: a rules-engine silence (args as the `Silence` model: rule/device/site, ends_at, reason).
- push_rules: swaps the rules engine's pack in memory (args {"pack": <rule pack>}); a restart goes
  back to the configured files, and the reply says so.
- push_profiles, push_inventory: answered "unsupported" (profiles and inventory reload from files
  through the local API's reload).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from gridedge import __version__
from gridedge.cloud_bridge.downlink import CommandFailedError, Downlink, Handler
from gridedge.cloud_bridge.uplink import Uplink
from gridedge.edge.command import Command, CommandName
from gridedge.rules.model import RulePack, Silence

if TYPE_CHECKING:
    from gridedge.gateway.agent import Agent

log = logging.getLogger(__name__)

MAX_ACKS = 1000


class AgentCommands:
    def __init__(self, agent: Agent) -> None:
        self._agent = agent
        self.acks: deque[Command] = deque(maxlen=MAX_ACKS)

    def table(self) -> dict[CommandName, Handler]:
        return {
            CommandName.ACK: self.ack,
            CommandName.PING: self.ping,
            CommandName.SILENCE: self.silence,
            CommandName.PUSH_RULES: self.push_rules,
        }

    async def ack(self, command: Command) -> dict[str, Any]:
        event_id = command.args.get("event_id")
        if not isinstance(event_id, str):
            raise CommandFailedError("ack needs args.event_id")
        self.acks.append(command)
        self._agent.counters["acks"] += 1
        log.info("centre acknowledged event %s (%s)", event_id, command.args.get("action", "ack"))
        return {"event_id": event_id}

    async def ping(self, command: Command) -> dict[str, Any]:
        return {"version": __version__, "queue_depth": self._agent.outbox.depth()}

    async def silence(self, command: Command) -> dict[str, Any]:
        try:
            silence = Silence.model_validate(command.args)
        except ValidationError as err:
            raise CommandFailedError(f"not a silence: {err.errors(include_url=False)[0]['msg']}") from None
        self._agent.engine.silence(silence)
        return {"ends_at": silence.ends_at.isoformat()}

    async def push_rules(self, command: Command) -> dict[str, Any]:
        try:
            pack = RulePack.model_validate(command.args.get("pack"))
            alerts = self._agent.engine.reload(pack)
        except (ValidationError, ValueError) as err:
            raise CommandFailedError(f"rule pack refused: {err}") from None
        await self._agent._emit(alerts)  # resolutions of removed rules go out like any event
        return {"rules": len(pack.rules), "persisted": False}


def make_uplink(agent: Agent, commands: AgentCommands) -> Uplink:
    """The uplink as configured; it reads downlink commands only when a command key is configured."""
    settings = agent.config.uplink
    key = settings.command_key()
    gateway_id = agent.config.gateway.id
    downlink = Downlink(gateway_id, key, commands.table(), clock=agent.clock) if key is not None else None
    return Uplink(
        agent.outbox,
        settings.broker,
        gateway_id,
        version=__version__,
        protocol=settings.protocol,
        tls=settings.tls_context(),
        heartbeat_s=settings.heartbeat_s,
        downlink=downlink,
    )
