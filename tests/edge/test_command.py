from __future__ import annotations

import json

import pytest

from gridedge.edge.command import (
    Command,
    CommandError,
    CommandName,
    Refusal,
    ReplayGuard,
    gateway_key,
    reply_topic,
    sign,
    verify,
)

SECRET = b"city-secret-for-tests"
GW = "gw-01"
KEY = gateway_key(SECRET, GW)
NOW = 1_700_000_000.0


def refusal(topic: str, payload: bytes, *, now: float = NOW, replays: ReplayGuard | None = None) -> Refusal:
    with pytest.raises(CommandError) as caught:
        verify(KEY, topic, payload, now=now, replays=replays or ReplayGuard())
    return caught.value.reason


def test_a_signed_command_is_accepted_once() -> None:
    command = sign(KEY, CommandName.ACK, GW, {"event_id": "evt-1", "seq": 2}, now=NOW)
    assert command.topic == "gridedge/v1/cmd/gw-01/ack"
    replays = ReplayGuard()
    assert verify(KEY, command.topic, command.to_json(), now=NOW + 5, replays=replays) == command
    assert refusal(command.topic, command.to_json(), now=NOW + 6, replays=replays) is Refusal.REPLAYED


def test_keys_differ_per_gateway_so_one_gateways_key_opens_no_other() -> None:
    assert gateway_key(SECRET, "gw-02") != KEY
    command = sign(gateway_key(SECRET, "gw-02"), CommandName.PING, GW, now=NOW)
    assert refusal(command.topic, command.to_json()) is Refusal.BAD_SIGNATURE


def test_an_unsigned_or_tampered_command_is_refused() -> None:
    command = sign(KEY, CommandName.SILENCE, GW, {"device_id": "SA-1", "for_s": 60}, now=NOW)
    unsigned = command.model_copy(update={"signature": ""})
    assert refusal(command.topic, unsigned.to_json()) is Refusal.UNSIGNED
    body = json.loads(command.to_json())
    body["args"]["for_s"] = 86_400
    assert refusal(command.topic, json.dumps(body).encode()) is Refusal.BAD_SIGNATURE


def test_a_command_replayed_on_another_topic_is_refused() -> None:
    command = sign(KEY, CommandName.PING, GW, now=NOW)
    assert refusal("gridedge/v1/cmd/gw-01/silence", command.to_json()) is Refusal.WRONG_TOPIC


@pytest.mark.parametrize("skew", [-61.0, 61.0])
def test_a_stale_or_future_command_is_refused(skew: float) -> None:
    command = sign(KEY, CommandName.PING, GW, now=NOW)
    assert refusal(command.topic, command.to_json(), now=NOW + skew) is Refusal.STALE


@pytest.mark.parametrize("payload", [b"", b"not json", b'{"name":"reboot"}', b"[]"])
def test_garbage_is_malformed(payload: bytes) -> None:
    assert refusal("gridedge/v1/cmd/gw-01/ping", payload) is Refusal.MALFORMED


def test_the_replay_cache_is_bounded_and_forgets_only_expired_nonces() -> None:
    replays = ReplayGuard(capacity=2, max_age_s=60)
    replays.admit("a" * 16, NOW)
    replays.admit("b" * 16, NOW + 1)
    with pytest.raises(CommandError) as caught:
        replays.admit("c" * 16, NOW + 2)
    assert caught.value.reason is Refusal.BUSY
    replays.admit("c" * 16, NOW + 122)  # the first two can no longer pass the freshness check
    assert len(replays) == 1


def test_the_reply_topic_is_beside_the_command() -> None:
    assert reply_topic(GW, "ping") == "gridedge/v1/cmd/gw-01/ping/reply"
    assert Command.model_validate_json(sign(KEY, CommandName.PING, GW, now=NOW).to_json()).name is CommandName.PING
