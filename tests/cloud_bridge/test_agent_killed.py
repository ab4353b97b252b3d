"""The real agent process killed with SIGKILL in the middle of a burst of alarms, then restarted: every
event it had made durable (it logs an event only after the outbox commit) reaches the centre once,
and each incident's revisions are stored in order with none missing. A third start delivers what the
second committed while it was being stopped: durable events wait in the outbox for the next run."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import pytest

from bench.scenarios.e2e import Publisher, _configs
from gridedge.devtools.broker import MosquittoProcess, free_port
from tests.agent_process import start_agent
from tests.cloud_bridge.helpers import assert_complete_and_in_order, centre, eventually, stored_revisions

pytestmark = pytest.mark.integration

LOGGED = re.compile(r"event (\S+) seq (\d+) ")
CHANGE_EVERY = 4


def logged(*logs: Path) -> set[tuple[str, int]]:
    return {(m[1], int(m[2])) for log in logs for m in LOGGED.finditer(log.read_text())}


async def test_the_agent_killed_mid_burst_loses_no_durable_event(tmp_path: Path, broker: MosquittoProcess) -> None:
    agent_yaml, _ = _configs(tmp_path, broker.url, free_port())
    database, first_log, second_log = tmp_path / "centre.db", tmp_path / "agent-1.log", tmp_path / "agent-2.log"
    async with centre(broker.port, database):
        agent = start_agent(agent_yaml, first_log)
        publisher = await asyncio.to_thread(Publisher, broker.port)
        try:
            n = 0
            while not stored_revisions(database):  # the agent is up and subscribed
                await asyncio.sleep(0.2)
                publisher.send(CHANGE_EVERY - 1, CHANGE_EVERY)
                n += 1
                assert n < 300, "the agent never came up"
            for i in range(2000):
                publisher.send(i, CHANGE_EVERY)
                if i % 100 == 0:
                    await asyncio.sleep(0)
            await eventually(lambda: len(stored_revisions(database)) >= 20, within=30)  # the burst is arriving
            agent.send_signal(signal.SIGKILL)
            await asyncio.to_thread(agent.wait, 5)
            before_kill = logged(first_log)
            agent = start_agent(agent_yaml, second_log)
            await eventually(lambda: before_kill <= set(stored_revisions(database)), within=60)
            for i in range(2000, 2200):  # the restarted agent goes on raising events
                publisher.send(i, CHANGE_EVERY)
            await eventually(lambda: logged(second_log) - before_kill <= set(stored_revisions(database)), within=60)
        finally:
            await asyncio.to_thread(publisher.close)
            agent.send_signal(signal.SIGTERM)
            await asyncio.to_thread(agent.wait, 15)
        # Events committed while the second agent was stopping wait in its outbox for the next start.
        agent = start_agent(agent_yaml, tmp_path / "agent-3.log")
        try:
            await eventually(lambda: logged(first_log, second_log) <= set(stored_revisions(database)), within=60)
        finally:
            agent.send_signal(signal.SIGTERM)
            await asyncio.to_thread(agent.wait, 15)
    stored = stored_revisions(database)
    assert len(before_kill) > 0
    assert logged(first_log, second_log) <= set(stored)
    assert_complete_and_in_order(stored)
