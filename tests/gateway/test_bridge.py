"""The agent's downlink command handlers, reached through a verified command as the uplink delivers it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridedge.cloud_bridge.downlink import Downlink
from gridedge.devtools.demo import demo_gateway_config
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.clock import FakeClock
from gridedge.edge.command import CommandName, gateway_key, sign
from gridedge.gateway.agent import Agent

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
    assert agent.pipeline.counters["acks"] == 1
    bad = await call(agent, CommandName.ACK, {})
    assert (bad["ok"], bad["detail"]) == (False, "ack needs args.event_id")


async def test_silences_are_set_listed_and_expired_by_command(agent: Agent) -> None:
    until = datetime.fromtimestamp(agent.clock.now(), UTC) + timedelta(hours=1)
    args = {"device": "SA-0001", "ends_at": until.isoformat(), "reason": "detector replaced", "author": "centre:li"}
    reply = await call(agent, CommandName.SILENCE, args)
    assert reply["ok"] is True
    listed = await call(agent, CommandName.SILENCE, {"list": True})
    assert [(s["id"], s["author"]) for s in listed["result"]["silences"]] == [(reply["result"]["id"], "centre:li")]
    expired = await call(agent, CommandName.SILENCE, {"expire": reply["result"]["id"]})
    assert expired["ok"] is True
    assert agent.pipeline.silences() == []
    gone = await call(agent, CommandName.SILENCE, {"expire": reply["result"]["id"]})
    assert (gone["ok"], gone["detail"]) == (False, f"no silence {reply['result']['id']!r} in force")
    wrong = await call(agent, CommandName.SILENCE, {"ends_at": until.isoformat()})
    assert wrong["ok"] is False
    too_long = await call(agent, CommandName.SILENCE, args | {"ends_at": (until + timedelta(days=7)).isoformat()})
    assert (too_long["ok"], too_long["detail"][:45]) == (False, "silence refused: a silence may last at most 6")


PROFILE = {
    "id": "acme-smoke",
    "vendor": "Acme",
    "model": "S1",
    "transport": {"type": "mqtt", "topic": "acme/{key}/up"},
    "points": [{"name": "smoke", "path": "smoke", "type": "bool", "role": "smoke"}],
}


@pytest.fixture
def pushable(tmp_path: Path) -> Iterator[Agent]:
    (tmp_path / "inventory.yaml").write_text("devices: []\n")
    config = demo_gateway_config(BrokerConfig(), tmp_path / "agent").model_copy(
        update={"profile_dirs": [tmp_path / "profiles"], "inventory_file": tmp_path / "inventory.yaml"}
    )
    the_agent = Agent(config, clock=FakeClock())
    yield the_agent
    the_agent.outbox.close()


async def test_pushed_profile_and_inventory_are_persisted_and_applied(pushable: Agent, tmp_path: Path) -> None:
    reply = await call(pushable, CommandName.PUSH_PROFILES, {"profile": PROFILE})
    assert reply["ok"] is True, reply
    assert (tmp_path / "profiles" / "acme-smoke.yaml").exists()
    device = {"id": "AC-1", "profile": "acme-smoke", "location": {"site": "Shed 9"}}
    reply = await call(pushable, CommandName.PUSH_INVENTORY, {"inventory": {"devices": [device]}})
    assert reply["ok"] is True, reply
    assert "AC-1" in pushable.pipeline.origins
    assert pushable.pipeline.southbound.router.route("acme/AC-1/up", b'{"smoke": true}', 1.0)[0].value is True


async def test_a_push_the_agent_cannot_apply_is_refused_and_the_old_file_stays(pushable: Agent, tmp_path: Path) -> None:
    good = {"devices": [{"id": "SA-9", "profile": "generic-smoke-alarm", "location": {"site": "x"}}]}
    assert (await call(pushable, CommandName.PUSH_INVENTORY, {"inventory": good}))["ok"] is True
    before = (tmp_path / "inventory.yaml").read_text()
    unknown = {"devices": [{"id": "SA-9", "profile": "no-such-model", "location": {"site": "x"}}]}
    reply = await call(pushable, CommandName.PUSH_INVENTORY, {"inventory": unknown})
    assert (reply["ok"], reply["detail"]) == (
        False,
        "inventory.yaml refused by the agent (see its log); the previous version stays",
    )
    assert (tmp_path / "inventory.yaml").read_text() == before
    typo = await call(pushable, CommandName.PUSH_PROFILES, {"profile": {**PROFILE, "vendr": "x"}})
    assert typo["ok"] is False
    assert "profile refused: vendr: Extra inputs are not permitted" in str(typo["detail"])


async def test_pushes_need_somewhere_to_persist(agent: Agent) -> None:
    reply = await call(agent, CommandName.PUSH_INVENTORY, {"inventory": {"devices": []}})
    assert (reply["ok"], reply["detail"]) == (False, "no inventory file configured (inventory_file)")
