"""The agent's downlink command handlers, reached through a verified command as the uplink delivers it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridedge.cloud_bridge.downlink import Downlink
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.clock import FakeClock
from gridedge.edge.command import CommandName, gateway_key, sign
from gridedge.gateway.agent import Agent
from gridedge.gateway.demo import demo_gateway_config

KEY = gateway_key(b"city", "gw-demo-01")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    config = demo_gateway_config(BrokerConfig(), tmp_path / "agent")
    the_agent = Agent(config, clock=FakeClock())
    yield the_agent
    the_agent.outbox.close()


async def call(agent: Agent, name: CommandName, args: dict[str, object] | None = None) -> dict[str, object]:
    gateway = agent.config.gateway.id
    downlink = Downlink(gateway, KEY, agent.commands.table(), clock=agent.clock)
    command = sign(KEY, name, gateway, args, now=agent.clock.now())
    reply = await downlink.handle(command.topic, command.to_json())
    assert reply.topic == f"{command.topic}/reply"
    body: dict[str, object] = json.loads(reply.payload)
    return body


async def test_ping_answers_with_version_and_queue_depth(agent: Agent) -> None:
    reply = await call(agent, CommandName.PING)
    assert reply["ok"] is True
    assert reply["result"] == {"version": "0.1.0", "queue_depth": 0}


async def test_ack_is_logged_and_kept(agent: Agent) -> None:
    reply = await call(agent, CommandName.ACK, {"event_id": "evt-00000001", "action": "verify"})
    assert reply["ok"] is True
    assert [c.args["event_id"] for c in agent.commands.acks] == ["evt-00000001"]
    assert agent.counters["acks"] == 1
    bad = await call(agent, CommandName.ACK, {})
    assert (bad["ok"], bad["detail"]) == (False, "ack needs args.event_id")


async def test_silence_reaches_the_rules_engine(agent: Agent) -> None:
    until = datetime.fromtimestamp(agent.clock.now(), UTC) + timedelta(hours=1)
    reply = await call(agent, CommandName.SILENCE, {"device": "SA-0001", "ends_at": until.isoformat()})
    assert reply["ok"] is True
    wrong = await call(agent, CommandName.SILENCE, {"ends_at": until.isoformat()})
    assert wrong["ok"] is False


async def test_profile_and_inventory_pushes_are_unsupported_for_now(agent: Agent) -> None:
    for name in (CommandName.PUSH_PROFILES, CommandName.PUSH_INVENTORY):
        reply = await call(agent, name)
        assert (reply["ok"], reply["detail"]) == (False, "unsupported")
