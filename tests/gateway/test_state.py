"""The local state the API reads: bounded everywhere, and a token the installer can find on the box."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gridedge.edge.clock import FakeClock
from gridedge.edge.reading import Reading
from gridedge.gateway.ops_settings import ApiConfig
from gridedge.gateway.state import RECENT_EVENTS, DeviceView, LocalState
from tests.gateway.ops_support import TOKEN, agent_at_rest
from tests.gateway.test_api import alert


def test_a_slow_stream_client_loses_its_oldest_items_only() -> None:
    state = LocalState([DeviceView("SA-1", "p", "site", None, None)], FakeClock())
    with state.subscribe(size=3) as slow, state.subscribe(size=100) as fast:
        state.on_readings([Reading("SA-1", "battery", float(i), float(i)) for i in range(10)])
        assert [slow.get_nowait()["value"] for _ in range(3)] == [7.0, 8.0, 9.0]
        assert fast.qsize() == 10
    assert state.stream_dropped == 7


def test_recent_events_are_a_ring() -> None:
    state = LocalState([], FakeClock())
    for seq in range(RECENT_EVENTS + 50):
        state.on_alerts([alert(seq=seq)])
    assert len(state.events) == RECENT_EVENTS
    assert state.events[0].seq == 50
    assert state.events_by_category[("fire_safety.smoke_alarm", "firing")] == RECENT_EVENTS + 50


def test_without_a_configured_token_one_is_made_once_and_kept_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRIDEDGE_API_TOKEN", raising=False)
    agent = agent_at_rest(tmp_path)
    try:
        assert agent.ops.api_token() == TOKEN
        agent.ops.config = agent.config.model_copy(update={"api": ApiConfig(token=None)})
        token = agent.ops.api_token()
        path = agent.config.state_dir / "api-token"
        assert path.read_text().strip() == token
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert agent.ops.api_token() == token
    finally:
        agent.outbox.close()
