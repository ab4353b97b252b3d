"""Rule hot reload in the agent: a changed pack file is picked up, open incidents survive, a bad file is refused."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridedge.devtools.demo import demo_gateway_config
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.reading import Reading
from gridedge.gateway import pipeline as pipeline_module
from gridedge.gateway.agent import Agent
from gridedge.rules.model import BUILTIN_PACKS


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    pack = tmp_path / "smoke.yaml"
    shutil.copy(BUILTIN_PACKS / "smoke_alarm.yaml", pack)
    config = demo_gateway_config(BrokerConfig(), tmp_path / "state").model_copy(update={"rule_packs": [pack]})
    the_agent = Agent(config)
    yield the_agent
    the_agent.outbox.close()


def _pack(agent: Agent) -> Path:
    assert agent.config.rule_packs is not None
    return agent.config.rule_packs[0]


async def test_a_changed_pack_file_is_reloaded_and_firing_incidents_keep_their_event(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "RULES_POLL_S", 0.02)
    now = agent.clock.now()
    fired = agent.pipeline.engine.process([Reading("SA-0002", "smoke", True, now, None, "smoke")])
    await agent.pipeline.emit(fired)
    assert agent.outbox.depth() == 1
    watcher = asyncio.create_task(agent.pipeline._watch_rules())
    await asyncio.sleep(0.05)  # the watcher has taken the files' first stamp
    try:
        text = _pack(agent).read_text()
        _pack(agent).write_text(text.replace("Smoke alarm battery low", "Battery low"))
        async with asyncio.timeout(5):
            while agent.pipeline.counters["rules_reloaded"] < 1:
                await asyncio.sleep(0.02)
    finally:
        watcher.cancel()
    assert agent.outbox.depth() == 1  # no duplicate event for the incident that was firing
    assert [a.event_id for a in agent.pipeline.engine.firing()] == [fired[0].event_id]
    (resolved,) = agent.pipeline.engine.process([Reading("SA-0002", "smoke", False, now + 1, None, "smoke")])
    assert (resolved.event_id, resolved.seq) == (fired[0].event_id, 2)


async def test_a_bad_pack_file_is_refused_and_the_running_rules_stay(agent: Agent) -> None:
    rules = agent.pipeline.engine.rules
    _pack(agent).write_text("rules:\n- id: x\n  match: {role: smoke}\n  condition: value >\n")
    assert await agent.pipeline.reload_rules() is False
    assert agent.pipeline.counters["rules_reload_failed"] == 1
    assert agent.pipeline.engine.rules is rules


def test_devices_are_registered_with_their_profile_roles(agent: Agent) -> None:
    assert agent.pipeline.engine.unmatched_rules() == []
